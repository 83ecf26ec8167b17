"""The Snakemake workflow: DAG shape, config validation, bad inputs, and one full run on a tiny config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import yaml

from nnlandmark.landmarks import read_landmarks

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
RULES = ["generate_demo", "convert_dataset", "extract_fingerprint", "plan_experiment", "preprocess_dataset",
         "train_fold", "predict_test", "predict_baseline", "evaluate_predictions", "plot_errors"]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=workdir)


def test_dry_run_shows_every_stage_as_its_own_rule(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    for rule in RULES:
        assert rule in result.stdout, f"{rule} missing from the dry run:\n{result.stdout}"
    counts = dict(line.split()[:2] for line in result.stdout.splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    assert counts.get("train_fold") == "3"  # one job per fold of the demo config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"train": {"loss": "l2"}}, "'l2' is not one of"),
        ({"train": {"epochs": 0}}, "0 is less than the minimum of 1"),
        ({"train": {"epohcs": 3}}, "epohcs"),
        ({"datasets": {"demo": {"dataset_id": 1000}}}, "1000 is greater than the maximum of 999"),
    ],
)
def test_wrong_config_value_is_named(tmp_path: Path, override: dict, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(override))
    result = snakemake(tmp_path, "-n", "--configfile", str(config))
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_missing_input_folder_stops_conversion_with_its_name(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"mine": {
        "format": "folder", "dataset_id": 501, "name": "Mine", "images": "no/such/images",
        "landmarks": "no/such/landmarks", "test_cases": ["a"]}}}))
    target = "results/mine/nnunet/nnUNet_raw/manifest.json"
    result = snakemake(tmp_path, target, "--cores", "1", "--configfile", str(config))
    assert result.returncode != 0
    log = (tmp_path / "logs" / "convert_dataset" / "mine.log").read_text()
    assert "image folder no/such/images does not exist" in log
    assert not (tmp_path / "results" / "mine" / "nnunet" / "nnUNet_raw" / "manifest.json").exists()


@pytest.mark.slow
def test_whole_dag_on_a_tiny_config(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", "--configfile",
                       str(REPO / "config" / "test.yaml"))
    assert result.returncode == 0, result.stderr[-5000:]
    results = tmp_path / "results-test" / "demo"
    test_cases = json.loads((results / "source" / "dataset.json").read_text())["test_cases"]
    names = json.loads((results / "source" / "dataset.json").read_text())["landmarks"]

    errors = pd.read_csv(results / "tables" / "errors.csv", dtype={"case": str})
    assert set(errors["method"]) == {"model", "baseline"}
    assert len(errors) == 2 * len(test_cases) * len(names)
    summary = pd.read_csv(results / "tables" / "summary.csv")
    for column in ["method", "n_cases", "n_landmarks", "mre_mm", "sd_mm", "median_mm", "sdr_2mm", "sdr_2.5mm",
                   "sdr_3mm", "sdr_4mm", "max_mm", "gross_error_mm", "n_gross"]:
        assert column in summary.columns
    assert summary.set_index("method").loc["model", "n_cases"] == len(test_cases)
    assert summary["mre_mm"].notna().all()
    folds = pd.read_csv(results / "tables" / "folds.csv")
    assert list(folds["fold"]) == [0, 1]
    assert (folds["n_gross"] >= 0).all() and (folds["max_mm"] >= folds["mre_mm"]).all()
    per_landmark = pd.read_csv(results / "tables" / "per_landmark.csv")
    assert set(per_landmark["landmark"]) == set(names)

    for plot in ("per_landmark_errors", "cumulative_errors"):
        image = matplotlib.image.imread(results / "plots" / f"{plot}.png")
        assert image.shape[0] > 100 and image.shape[1] > 100
    for case in test_cases:
        prediction = json.loads((results / "predictions" / "model" / f"{case}.json").read_text())
        assert [p["name"] for p in prediction["landmarks"]] == names
        assert all(0 <= p["confidence"] <= 1 for p in prediction["landmarks"])
        slicer = json.loads((results / "predictions" / "model" / f"{case}.mrk.json").read_text())
        assert slicer["markups"][0]["coordinateSystem"] == "LPS"
        assert (results / "predictions" / "baseline" / f"{case}.json").is_file()
    for fold in (0, 1):
        summary_json = json.loads((results / "nnunet" / "training" / f"fold_{fold}.json").read_text())
        assert summary_json["n_cases"] >= 1
        model = results / "nnunet" / "nnUNet_results" / "Dataset990_Demo" / "nnLandmarkTrainer__nnUNetPlans__3d_fullres"
        assert (model / f"fold_{fold}" / "checkpoint_final.pth").is_file()
    fold_log = (tmp_path / "logs" / "train_fold" / "demo_fold0.log").read_text()
    assert fold_log.count("Epoch ") >= 2
    # the console shows one progress line per epoch and the fold's result; nnU-Net's messages only the log
    console = result.stdout + result.stderr
    for fold in (0, 1):
        assert re.search(rf"Dataset990_Demo fold {fold} \| epoch 2/2 \| loss \S+ \| val patch MRE .+ \| "
                         rf"[\d.]+ s/epoch \| ETA 0 s", console), console[-3000:]
        assert re.search(rf"Dataset990_Demo fold {fold} done \| whole-case validation: MRE [\d.]+ mm", console)
    assert "Pseudo dice" in fold_log and "Pseudo dice" not in console
    assert "hiddenlayer" not in console

    # the stand-alone CLI on the same images and model gives the workflow's predictions
    cli_out = tmp_path / "cli"
    cli = subprocess.run(
        [sys.executable, "-m", "nnlandmark.cli", "predict", "-i", str(results / "nnunet" / "nnUNet_raw" / "Dataset990_Demo"
                                                                  / "imagesTs"), "-o", str(cli_out), "-m", str(model),
         "--threads", "2"], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]
    for case in test_cases:
        ours = read_landmarks(cli_out / f"{case}.mrk.json")
        workflow = read_landmarks(results / "predictions" / "model" / f"{case}.json")
        assert ours.allclose(workflow, atol=1e-3)

    # everything is up to date afterwards: a second run has nothing to do
    again = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config" / "test.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr
