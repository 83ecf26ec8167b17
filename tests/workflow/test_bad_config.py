"""Bad configs and bad own-data inputs through the workflow: one clear message, a failed exit, nothing marked done."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nnlandmark.datasets.demo import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
MANIFEST = "results/mine/nnunet/nnUNet_raw/manifest.json"


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess[str]:
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "1", *args, "--configfile", str(path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=workdir)


def own_block(**changes: object) -> dict:
    block = {"format": "folder", "dataset_id": 501, "name": "Mine", "images": "src/images",
             "landmarks": "src/landmarks", "test_cases": ["demo_005"]}
    block.update(changes)
    return {"datasets": {"demo": {"enabled": False}, "mine": block}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (own_block(imagse="src/images"), "Additional properties are not allowed ('imagse' was unexpected)"),
        (own_block(test_cases=["demo_005", "demo_005"]), "has non-unique elements"),
        ({"nnunet": {"configuration": "2d"}}, "'2d' is not one of ['3d_fullres', '3d_lowres']"),
        ({"train": {"folds": [0, 5]}}, "train.folds has [5], outside 0..4 (train.num_folds = 5)"),
        ({"train": {"folds": [3], "num_folds": 3}}, "train.folds has [3], outside 0..2 (train.num_folds = 3)"),
        ({"train": {"folds": []}}, "[] should be non-empty"),
        (own_block(raters="src/rater"), "'src/rater' is not valid under any of the given schemas"),
        (own_block(landmark_names="AC"), "'AC' is not of type 'array'"),
        ({"predict": {"tile_step_size": 0}}, "0 is less than or equal to the minimum of 0"),
        ({"train": {"threads": 0}}, "0 is less than the minimum of 1"),
        # issue 21: outputs outside the results folder, a 2-D patch
        ({"results": ""}, "'' should be non-empty"),
        ({"datasets": {"../escape": own_block()["datasets"]["mine"]}}, "'../escape' does not match"),
        ({"nnunet": {"plan_overrides": {"patch_size": [32, 32]}}}, "[32, 32] is too short"),
    ],
)
def test_a_bad_config_is_named_before_any_job_runs(tmp_path: Path, config: dict, message: str) -> None:
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("own")
    generate_demo_dataset(root / "src", n_train=5, n_test=1, shape=(32, 32, 24), n_absent=0)
    return root / "src"


def copy_source(source: Path, workdir: Path) -> Path:
    for sub in ("images", "landmarks"):
        (workdir / "src" / sub).mkdir(parents=True)
        for path in (source / sub).iterdir():
            (workdir / "src" / sub / path.name).write_bytes(path.read_bytes())
    return workdir / "src"


def empty_landmark_file(src: Path) -> None:
    (src / "landmarks" / "demo_001.json").write_text("")


def leave_as_is(src: Path) -> None:
    """The files are fine; the config is what is wrong."""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("breaks", "block", "named"),
    [
        (empty_landmark_file, {}, "demo_001.json"),
        (leave_as_is, {"landmarks": "src/images/demo_000.nii.gz"}, "demo_000.nii.gz"),
        (leave_as_is, {"test_cases": ["nosuchcase"]}, "nosuchcase"),
    ],
    ids=["empty landmark file", "landmarks is a file", "unknown test case"],
)
def test_a_bad_input_stops_conversion_once_and_a_fixed_one_converts(
    source: Path, tmp_path: Path, breaks: Callable[[Path], None], block: dict, named: str
) -> None:
    src = copy_source(source, tmp_path)
    original = (src / "landmarks" / "demo_001.json").read_bytes()
    breaks(src)

    result = snakemake(tmp_path, own_block(**block), MANIFEST)
    assert result.returncode != 0
    shown = [line for line in result.stderr.splitlines() if line.startswith("error in rule convert_dataset:")]
    assert len(shown) == 1 and named in shown[0], result.stderr[-3000:]
    log = (tmp_path / "logs" / "convert_dataset" / "mine.log").read_text()
    assert "Traceback" not in result.stderr + log  # an expected error needs no traceback
    assert shown[0] in log
    assert not (tmp_path / MANIFEST).exists()
    assert not (tmp_path / "results" / "mine" / "nnunet" / "nnUNet_raw" / "Dataset501_Mine").exists()

    (src / "landmarks" / "demo_001.json").write_bytes(original)
    fixed = snakemake(tmp_path, own_block(), MANIFEST)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert (tmp_path / MANIFEST).is_file()


def test_a_results_folder_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("my notes")
    result = snakemake(tmp_path, {"results": "taken"}, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "error: results: taken is an existing file, not a folder; set results to a folder" in output, output[-3000:]
    assert "Traceback" not in output and (tmp_path / "taken").read_text() == "my notes"


@pytest.mark.slow
def test_a_configuration_nnunet_did_not_plan_is_named_in_one_line(source: Path, tmp_path: Path) -> None:
    copy_source(source, tmp_path)
    config = {**own_block(), "nnunet": {"configuration": "3d_lowres"}}
    result = snakemake(tmp_path, config, "results/mine/nnunet/plans.json")
    assert result.returncode != 0
    shown = [line for line in result.stderr.splitlines() if line.startswith("error in rule plan_experiment:")]
    assert len(shown) == 1, result.stderr[-3000:]
    assert "nnunet.configuration: nnU-Net planned no '3d_lowres' configuration" in shown[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results" / "mine" / "nnunet" / "plans.json").exists()
