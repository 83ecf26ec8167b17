"""Every stage's outputs follow from its inputs: a changed input re-runs what depends on it, nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from nnlandmark.datasets.demo import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
CONVERTED = "results/mine/nnunet/nnUNet_raw/manifest.json"
FOLD = "results/mine/nnunet/training/fold_0.json"
RETRAINED = "training it again from scratch"


def snakemake(workdir: Path, config: Path, target: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", "--resources", "gpu=1", *flags,
                           "--configfile", str(config), "--", target],
                          capture_output=True, text=True, timeout=900, env=env, cwd=workdir)


def own_data_config(tmp_path: Path, *, test_cases: list[str], loss: str = "ssce") -> Path:
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {
            "demo": {"enabled": False},
            "mine": {"format": "folder", "dataset_id": 501, "name": "Mine", "images": str(tmp_path / "src" / "images"),
                     "landmarks": str(tmp_path / "src" / "landmarks"), "test_cases": test_cases},
        },
        "train": {"folds": [0], "num_folds": 2, "epochs": 1, "iterations_per_epoch": 1, "val_iterations_per_epoch": 1,
                  "loss": loss},
    }))
    return config


def jobs(result: subprocess.CompletedProcess[str]) -> set[str]:
    """Rules that a dry run would run."""
    return {line.split()[1] for line in result.stdout.splitlines() if line.startswith("rule ")} | {
        line.split()[0] for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] not in ("total", "job")
    }


def fold_log(tmp_path: Path) -> str:
    return (tmp_path / "logs" / "train_fold" / "mine_fold0.log").read_text()


def retrained_because(tmp_path: Path) -> set[str]:
    """The changed parts the fold's log names as its reason to retrain (empty when it did not)."""
    found = re.search(r"inputs changed since it was trained \(([^)]*)\); " + RETRAINED, fold_log(tmp_path))
    return set(found.group(1).split(", ")) if found else set()


def edit_image_in_place_keeping_its_mtime(image: Path) -> None:
    """A user's fix of an image: new voxel values, the file's old modification time (as cp -p or a restore)."""
    stat = image.stat()
    volume = sitk.ReadImage(str(image))
    edited = sitk.GetImageFromArray(sitk.GetArrayFromImage(volume) * np.float32(0.5) + np.float32(3.0))
    edited.CopyInformation(volume)
    sitk.WriteImage(edited, str(image))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.slow
def test_changed_inputs_rerun_conversion_and_retrain_the_fold(tmp_path: Path) -> None:
    manifest = generate_demo_dataset(tmp_path / "src", n_train=5, n_test=1, shape=(24, 24, 20), n_absent=0)
    test_case = manifest.test_cases[0]
    config = own_data_config(tmp_path, test_cases=[test_case])

    first = snakemake(tmp_path, config, FOLD)
    assert first.returncode == 0, first.stderr[-4000:]
    assert RETRAINED not in fold_log(tmp_path)
    assert (tmp_path / FOLD).is_file()

    # unchanged: nothing to do
    again = snakemake(tmp_path, config, FOLD, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout

    # an image edited in place (older mtime kept): conversion re-runs, then the fold retrains on the new data
    edit_image_in_place_keeping_its_mtime(tmp_path / "src" / "images" / f"{manifest.training_cases[0]}.nii.gz")
    dry = snakemake(tmp_path, config, FOLD, "-n")
    assert {"convert_dataset", "train_fold"} <= jobs(dry), dry.stdout
    run = snakemake(tmp_path, config, FOLD)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "data" in retrained_because(tmp_path)

    # a different loss: the fold retrains (conversion does not re-run)
    mse = own_data_config(tmp_path, test_cases=[test_case], loss="mse")
    dry = snakemake(tmp_path, mse, FOLD, "-n")
    assert "train_fold" in jobs(dry) and "convert_dataset" not in jobs(dry), dry.stdout
    run = snakemake(tmp_path, mse, FOLD)
    assert run.returncode == 0, run.stderr[-4000:]
    assert retrained_because(tmp_path) == {"recipe"}

    # a training case moved to test_cases: re-conversion, and the fold retrains without it
    moved = own_data_config(tmp_path, test_cases=[test_case, manifest.training_cases[1]], loss="mse")
    run = snakemake(tmp_path, moved, FOLD)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "split" in retrained_because(tmp_path)

    # a landmark file added for a new case (image too): conversion re-runs
    for sub, suffix in (("images", ".nii.gz"), ("landmarks", ".json")):
        source = tmp_path / "src" / sub / f"{manifest.training_cases[2]}{suffix}"
        (tmp_path / "src" / sub / f"extra{suffix}").write_bytes(source.read_bytes())
    dry = snakemake(tmp_path, moved, CONVERTED, "-n")
    assert "convert_dataset" in jobs(dry), dry.stdout
