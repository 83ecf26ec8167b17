"""The benchmark report of a finished tiny run: every table recomputed from errors.csv and the rater files,
formatted views consistent with the CSVs, figures written, and `snakemake --report` embedding all of it."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.evaluation import recompute

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TEST_CONFIG = REPO / "config" / "test.yaml"
TABLES = ["accuracy", "per_landmark_accuracy", "interrater", "interrater_per_landmark", "rater_pairs"]
PLOTS = ["per_landmark_errors", "cumulative_errors", "interrater", "qualitative"]
FORMATS = ["csv", "md", "tex", "html"]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=workdir, check=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run and its report, in a fresh working directory."""
    workdir = tmp_path_factory.mktemp("report_run")
    result = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--configfile", str(TEST_CONFIG))
    assert result.returncode == 0, result.stderr[-5000:]
    report = snakemake(workdir, "--configfile", str(TEST_CONFIG), "--report", "report.html", timeout=300)
    assert report.returncode == 0, report.stderr[-5000:]
    return workdir


def config() -> dict:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    override = yaml.safe_load(TEST_CONFIG.read_text())
    return {**base, **{k: v for k, v in override.items() if k != "datasets"}}


def boot() -> dict:
    block = config()["evaluation"]
    return {"n_resamples": block["bootstrap_resamples"], "seed": block["bootstrap_seed"],
            "confidence": block["confidence_level"]}


def outputs(run: Path) -> list[Path]:
    results = run / config()["results"]
    files = [results / "demo" / "tables" / f"{t}.{f}" for t in TABLES for f in FORMATS]
    files += [results / "demo" / "tables" / f"{t}.csv" for t in
              ("errors", "summary", "per_landmark", "interrater_errors", "rater_pair_errors")]
    files += [results / "demo" / "plots" / f"{p}.{f}" for p in PLOTS for f in ("png", "svg")]
    files += [results / "paper" / f"{t}.{f}" for t in ("accuracy", "interrater") for f in FORMATS]
    return files


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"case": str, "landmark": str, "annotator": str, "method": str})


@pytest.mark.slow
def test_every_table_is_recomputed_from_errors_and_raters(run: Path) -> None:
    tables = run / config()["results"] / "demo" / "tables"
    errors = read(tables / "errors.csv")
    thresholds = config()["evaluation"]["sdr_thresholds_mm"]
    evaluated = errors["ref_present"] & errors["pred_present"]
    distance = np.linalg.norm(errors[["x_pred", "y_pred", "z_pred"]].to_numpy()
                              - errors[["x_ref", "y_ref", "z_ref"]].to_numpy(), axis=1)
    assert np.allclose(errors.loc[evaluated, "error_mm"], distance[evaluated], rtol=1e-12)

    accuracy = recompute.accuracy(errors, thresholds, boot())
    recompute.assert_same_table(read(tables / "accuracy.csv"), accuracy, what="accuracy")
    no_ci = [c for c in accuracy.columns if "_ci_" not in c]
    recompute.assert_same_table(read(tables / "summary.csv"), accuracy[no_ci], what="summary")
    landmarks = recompute.per_landmark(errors, boot())
    recompute.assert_same_table(read(tables / "per_landmark_accuracy.csv"), landmarks, what="per landmark")
    method_major = landmarks.sort_values("method", key=lambda s: s.map({"model": 0, "baseline": 1}), kind="stable")
    recompute.assert_same_table(read(tables / "per_landmark.csv"),
                                method_major[["method", "landmark", "n_detected", "mre_mm", "sd_mm", "median_mm",
                                              "max_mm", "n_missed", "n_false_detections"]]
                                .reset_index(drop=True), what="per_landmark.csv")

    manifest = json.loads((run / config()["results"] / "demo" / "nnunet" / "nnUNet_raw" / "manifest.json").read_text())
    raters = run / config()["results"] / "demo" / "nnunet" / "nnUNet_raw" / manifest["nnunet_name"] / "raters"
    annotations = {"reference": recompute.annotations_from_errors(errors, "ref")}
    for rater in manifest["raters"]:
        annotations[rater] = {}
        for path in sorted((raters / rater).glob("*.json")):
            if path.stem in annotations["reference"]:
                entries = json.loads(path.read_text())["landmarks"]
                annotations[rater][path.stem] = {e["name"]: tuple(e["position"]) if e["present"] else None
                                                 for e in entries}
    assert manifest["raters"] == ["rater2"] and annotations["rater2"]
    want = recompute.interrater(annotations, recompute.annotations_from_errors(errors, "pred"),
                                manifest["landmarks"], boot())
    recompute.assert_same_table(read(tables / "rater_pairs.csv"), want["pairs"], what="rater pairs")
    recompute.assert_same_table(read(tables / "interrater.csv"), want["by_annotator"], what="interrater")
    recompute.assert_same_table(read(tables / "interrater_per_landmark.csv"), want["by_landmark"],
                                what="interrater per landmark")
    recompute.assert_same_table(read(tables / "interrater_errors.csv"), want["rows"], what="interrater rows")
    recompute.assert_same_table(read(tables / "rater_pair_errors.csv"), want["pair_rows"], what="pair rows")
    assert want["by_annotator"]["n_pairs"].min() > 0

    paper = read(run / config()["results"] / "paper" / "accuracy.csv")
    assert list(paper["origin"]) == ["measured here"] * len(accuracy)  # the demo names no published set
    recompute.assert_same_table(paper, accuracy.assign(dataset="demo"), what="paper accuracy")
    pooled = want["by_annotator"][want["by_annotator"]["annotator"] == "all"]
    recompute.assert_same_table(read(run / config()["results"] / "paper" / "interrater.csv"),
                                pooled.assign(dataset="demo").reset_index(drop=True), what="paper interrater")


@pytest.mark.slow
def test_formatted_views_hold_the_csv_rows(run: Path) -> None:
    results = run / config()["results"]
    stems = [results / "demo" / "tables" / t for t in TABLES] + [results / "paper" / t for t in ("accuracy", "interrater")]
    for stem in stems:
        table = pd.read_csv(stem.with_suffix(".csv"))
        md = [line for line in stem.with_suffix(".md").read_text().splitlines() if line.startswith("| ")]
        assert len(md) == 2 + len(table), stem
        tex = stem.with_suffix(".tex").read_text()
        body = tex[tex.index(r"\midrule") + len(r"\midrule"):tex.index(r"\bottomrule")]
        assert body.count(r"\\") == len(table) and r"\toprule" in tex and r"\caption{" in tex, stem
        assert stem.with_suffix(".html").read_text().count("<tr>") == 1 + len(table), stem
        if "mre_mm_ci_low" in table.columns:
            for row in table.itertuples():
                if not math.isnan(row.mre_mm_ci_low):
                    cell = f"{row.mre_mm:.2f} [{row.mre_mm_ci_low:.2f}, {row.mre_mm_ci_high:.2f}]"
                    assert cell in stem.with_suffix(".md").read_text(), (stem, cell)


@pytest.mark.slow
def test_figures_are_written(run: Path) -> None:
    plots = run / config()["results"] / "demo" / "plots"
    for name in PLOTS:
        image = matplotlib.image.imread(plots / f"{name}.png")
        assert image.shape[0] > 300 and image.shape[1] > 600, name
        assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 50, name  # not blank
        svg = (plots / f"{name}.svg").read_text()
        assert "<svg" in svg and "(mm)" in svg, name


@pytest.mark.slow
def test_report_embeds_every_table_and_figure(run: Path) -> None:
    html = (run / "report.html").read_text()
    embedded = Counter()
    for name, data in re.findall(r'data:[^;"]+;charset=[^;"]+;filename=([^;"]+);base64,([A-Za-z0-9+/=]+)', html):
        embedded[(name, base64.b64decode(data))] += 1
    wanted = Counter((path.name, path.read_bytes()) for path in outputs(run))
    missing = [name for (name, content), n in wanted.items() if embedded[(name, content)] < n]
    assert not missing, f"not in the report (or different content): {missing}"
    for text in ("leave-one-out", "percentile-bootstrap", "Inter-rater", "Qualitative", "Paper tables"):
        assert text in html, text
    again = snakemake(run, "-n", "--configfile", str(TEST_CONFIG))
    assert "Nothing to be done" in again.stdout + again.stderr
