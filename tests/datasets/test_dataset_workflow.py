"""The dataset rules in the DAG: the paper config's chain without data, benchmarks from loopback, own data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nnlandmark.datasets.demo import generate_demo_dataset
from tests.datasets.builders import LoopbackServer, write_afids_source, write_mml_release, zip_tree

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TINY = {"folds": [0, 1], "num_folds": 3, "epochs": 2, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1}


def snakemake(workdir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=workdir, check=False)


def job_counts(stdout: str) -> dict[str, int]:
    rows = [line.split() for line in stdout.splitlines()]
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


def test_paper_config_shows_the_chain_from_download_to_tables_without_data(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", str(REPO / "config" / "paper.yaml"))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    for rule in ("download_dataset", "prepare_dataset", "convert_dataset", "extract_fingerprint", "plan_experiment",
                 "preprocess_dataset", "predict_test", "evaluate_predictions"):
        assert counts.get(rule) == 2, f"{rule}: {counts}"
    assert counts["train_fold"] == 10 and "generate_demo" not in counts  # 2 datasets x 5 folds; demo switched off


def test_every_dataset_switched_off_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "off.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"demo": {"enabled": False}}}))
    result = snakemake(tmp_path, "-n", "--configfile", str(config))
    assert result.returncode != 0
    assert "every dataset in the config has enabled: false" in result.stderr + result.stdout


def test_unknown_format_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"x": {"format": "dicom", "dataset_id": 5, "name": "X"}}}))
    result = snakemake(tmp_path, "-n", "--configfile", str(config))
    assert result.returncode != 0 and "'dicom' is not one of" in result.stderr + result.stdout


def test_failed_download_leaves_no_complete_output(tmp_path: Path) -> None:
    config = tmp_path / "mml.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"demo": {"enabled": False}, "mml": {
        "format": "mml", "dataset_id": 733, "name": "MML", "source": "nowhere/mmld_dataset.zip"}}}))
    result = snakemake(tmp_path, "results/mml/source/dataset.json", "--cores", "1", "--configfile", str(config))
    assert result.returncode != 0
    log = (tmp_path / "logs" / "download_dataset" / "mml.log").read_text()
    assert "source nowhere/mmld_dataset.zip does not exist; fix the dataset's source: path" in log
    assert not (tmp_path / "resources" / "mml" / "download.json").exists()
    assert not (tmp_path / "results" / "mml" / "source").exists()


@pytest.mark.slow
def test_benchmarks_from_loopback_to_preprocessed(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    cases = {f"{n:04d}": (("train", "val", "test")[n % 3], n != 4) for n in range(1, 9)}
    zip_tree(write_mml_release(tmp_path / "release", cases), www / "mmld.zip")
    complete = sorted(c for c, (_, ok) in cases.items() if ok)
    split = tmp_path / "mml_split.json"
    split.write_text(json.dumps({"imagesTr": complete[:-2], "imagesTs": complete[-2:], "all": complete}))
    write_afids_source(www / "openneuro.org" / "ds004471", ["sub-087", "sub-093", "sub-103", "sub-106"])
    write_afids_source(www / "openneuro.org" / "ds004470", ["sub-C001", "sub-C005"])
    with LoopbackServer(www) as server:
        bucket = f"{server.url}/openneuro.org"
        config = tmp_path / "bench.yaml"
        config.write_text(yaml.safe_dump({
            "datasets": {
                "demo": {"enabled": False},
                "mml": {"format": "mml_complete", "dataset_id": 735, "name": "MML_comp", "channel": "CT",
                        "url": f"{server.url}/mmld.zip", "split": str(split)},
                "afids": {"format": "afids", "dataset_id": 732, "name": "Afids", "channel": "MRI",
                          "test_cases": ["LHSCPD_sub-093", "SNSX_sub-C005"],
                          "sources": {"LHSCPD": {"openneuro": "ds004471", "url": bucket},
                                      "SNSX": {"openneuro": "ds004470", "url": bucket}, "AFIDs-HCP": None}}},
            "train": TINY}))
        targets = [f"results/{d}/nnunet/preprocessed.json" for d in ("mml", "afids")]
        result = snakemake(tmp_path, *targets, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-5000:]
    for dataset, name in (("mml", "Dataset735_MML_comp"), ("afids", "Dataset732_Afids")):
        preprocessed = tmp_path / "results" / dataset / "nnunet" / "nnUNet_preprocessed" / name
        assert (preprocessed / "splits_final.json").is_file() and (preprocessed / "dataset_fingerprint.json").is_file()
        assert json.loads((tmp_path / "resources" / dataset / "download.json").read_text())["format"]
    manifest = json.loads((tmp_path / "results" / "afids" / "nnunet" / "nnUNet_raw" / "manifest.json").read_text())
    assert manifest["raters"] == ["raterAT", "raterGG"] and len(manifest["landmarks"]) == 32
    assert "AFIDs-HCP skipped" in (tmp_path / "logs" / "download_dataset" / "afids.log").read_text()


@pytest.mark.slow
def test_own_folder_dataset_runs_to_the_summary_table(tmp_path: Path) -> None:
    data = tmp_path / "mydata"
    manifest = generate_demo_dataset(data, n_train=6, n_test=2, seed=1, shape=(32, 32, 24), n_absent=1)
    config = tmp_path / "my.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"demo": {"enabled": False},
                     "mydata": {"format": "folder", "dataset_id": 501, "name": "MyData", "channel": "synthetic",
                                "images": "mydata/images", "landmarks": "mydata/landmarks",
                                "raters": ["mydata/raters/rater2"], "test_cases": list(manifest.test_cases)}},
        "train": TINY}))
    result = snakemake(tmp_path, "results/mydata/tables/summary.csv", "--cores", "2", "--resources", "gpu=1",
                       "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-5000:]
    summary = pd.read_csv(tmp_path / "results" / "mydata" / "tables" / "summary.csv")
    assert set(summary["method"]) == {"model", "baseline"}
    assert (summary.set_index("method").loc["model", "n_cases"]) == len(manifest.test_cases)
    raw = tmp_path / "results" / "mydata" / "nnunet" / "nnUNet_raw" / "Dataset501_MyData"
    assert len(list((raw / "raters" / "rater2").iterdir())) == 8
