"""Every benchmark table, recomputed by plain loops from the error rows and rater annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnlandmark.evaluation.errors import collect_errors, landmark_sets_from_errors
from nnlandmark.evaluation.interrater import REFERENCE, consensus_errors, pairwise_rater_errors
from nnlandmark.evaluation.report_tables import (
    write_accuracy,
    write_interrater,
    write_interrater_per_landmark,
    write_paper_accuracy,
    write_paper_interrater,
    write_per_landmark,
    write_rater_pairs,
)
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.landmarks.landmark_set import LandmarkSet
from tests.evaluation import recompute

NAMES = ("AC", "PC", "genu", "culmen")
THRESHOLDS = (2.0, 2.5, 3.0, 4.0)
SETTINGS = BootstrapSettings(n_resamples=300, seed=5)
BOOT = {"n_resamples": 300, "seed": 5, "confidence": 0.95}


def jitter(rng: np.random.Generator, base: LandmarkSet, sigma: float, *, drop: float = 0.0) -> LandmarkSet:
    present = base.present & (rng.random(len(base)) >= drop)
    return LandmarkSet(base.names, base.points + rng.normal(0, sigma, base.points.shape), present)


@pytest.fixture(scope="module")
def data() -> dict:
    rng = np.random.default_rng(2)
    cases = [f"sub-{i:02d}" for i in range(6)]
    reference = {c: jitter(rng, LandmarkSet(NAMES, rng.uniform(-50, 50, (4, 3)), np.ones(4, bool)), 0.0, drop=0.1)
                 for c in cases}
    model = {c: jitter(rng, s, 1.5, drop=0.1) for c, s in reference.items()}
    baseline = {c: jitter(rng, s, 4.0) for c, s in reference.items()}
    errors = pd.concat([collect_errors(reference, model, method="model"),
                        collect_errors(reference, baseline, method="baseline")], ignore_index=True)
    raters = {"r1": {c: jitter(rng, reference[c], 1.0, drop=0.1) for c in cases[:5]},
              "r2": {c: jitter(rng, reference[c], 1.0) for c in cases[2:]}}
    return {"errors": errors, "raters": raters}


def as_points(landmarks: LandmarkSet) -> dict:
    return {n: (tuple(map(float, p)) if ok else None) for n, p, ok in zip(landmarks.names, landmarks.points, landmarks.present)}


def test_accuracy_tables(data: dict, tmp_path: Path) -> None:
    errors = data["errors"]
    table = write_accuracy(errors, tmp_path / "accuracy", dataset="toy", thresholds=THRESHOLDS, settings=SETTINGS)
    recompute.assert_same_table(pd.read_csv(tmp_path / "accuracy.csv"),
                                recompute.accuracy(errors, THRESHOLDS, BOOT), what="accuracy")
    assert table["n_missed"].sum() > 0  # the example has missed landmarks to count
    md = (tmp_path / "accuracy.md").read_text()
    for _, row in table.iterrows():
        assert f"{row.mre_mm:.2f} [{row.mre_mm_ci_low:.2f}, {row.mre_mm_ci_high:.2f}]" in md
    assert (table["n_landmarks"] == table["n_detected"] + table["n_missed"]).all()
    for path in ("accuracy.md", "accuracy.tex", "accuracy.html"):  # each format names its conventions
        text = (tmp_path / path).read_text()
        assert "SDR 2 mm, missed = fail" in text and "MRE of detected" in text
        assert "a missed landmark counts as a failure" in text and "over detected landmarks only" in text
        assert "denominator: the reference landmarks" in text
    write_per_landmark(errors, tmp_path / "per_landmark", dataset="toy", settings=SETTINGS)
    recompute.assert_same_table(pd.read_csv(tmp_path / "per_landmark.csv"), recompute.per_landmark(errors, BOOT),
                                what="per landmark")
    assert "over detected landmarks only" in (tmp_path / "per_landmark.md").read_text()


def test_interrater_tables(data: dict, tmp_path: Path) -> None:
    errors = data["errors"]
    annotations = {REFERENCE: landmark_sets_from_errors(errors, method="model", side="ref"), **data["raters"]}
    model = landmark_sets_from_errors(errors, method="model", side="pred")
    consensus, pairs = consensus_errors(annotations, model), pairwise_rater_errors(annotations)
    write_rater_pairs(pairs, tmp_path / "pairs", dataset="toy", settings=SETTINGS)
    write_interrater(consensus, tmp_path / "interrater", dataset="toy", settings=SETTINGS)
    write_interrater_per_landmark(consensus, pairs, tmp_path / "per_landmark", dataset="toy", settings=SETTINGS)
    plain = {a: {c: as_points(s) for c, s in per_case.items()} for a, per_case in annotations.items()}
    want = recompute.interrater(plain, {c: as_points(s) for c, s in model.items()}, NAMES, BOOT)
    recompute.assert_same_table(pd.read_csv(tmp_path / "pairs.csv"), want["pairs"], what="rater pairs")
    recompute.assert_same_table(pd.read_csv(tmp_path / "interrater.csv"), want["by_annotator"], what="interrater")
    recompute.assert_same_table(pd.read_csv(tmp_path / "per_landmark.csv"), want["by_landmark"], what="per landmark")
    assert list(want["by_annotator"]["annotator"]) == [REFERENCE, "r1", "r2", "all"]
    assert "leave-one-out" in (tmp_path / "interrater.tex").read_text()


def test_paper_tables(data: dict, tmp_path: Path) -> None:
    accuracy = write_accuracy(data["errors"], tmp_path / "a", dataset="toy", thresholds=THRESHOLDS, settings=SETTINGS)
    published = {"toy": [{"method": "nnLandmark", "source": "Ertl et al.", "mre_mm": 1.5},
                         {"method": "AFLE", "source": "Lau et al.", "kind": "inter-rater", "mre_mm": 1.1}]}
    table = write_paper_accuracy({"toy": accuracy, "other": accuracy}, published, tmp_path / "paper",
                                 thresholds=THRESHOLDS)
    assert list(zip(table["dataset"], table["method"], table["origin"])) == [
        ("toy", "model", "measured here"), ("toy", "baseline", "measured here"),
        ("toy", "nnLandmark", "published"), ("other", "model", "measured here"), ("other", "baseline", "measured here")]
    csv = pd.read_csv(tmp_path / "paper.csv")
    recompute.assert_same_table(csv[csv["dataset"] == "toy"].head(2).reset_index(drop=True), accuracy, what="paper")
    paper_md = (tmp_path / "paper.md").read_text()
    assert "published: Ertl et al." in paper_md
    assert "SDR 2 mm, missed = fail" in paper_md and "the ones to compare with published SDRs" in paper_md
    annotations = {REFERENCE: landmark_sets_from_errors(data["errors"], method="model", side="ref"), **data["raters"]}
    model = landmark_sets_from_errors(data["errors"], method="model", side="pred")
    interrater = write_interrater(consensus_errors(annotations, model), tmp_path / "i", dataset="toy", settings=SETTINGS)
    paper = write_paper_interrater({"toy": interrater}, published, tmp_path / "paper_interrater")
    assert list(paper["origin"]) == ["measured here", "published"]
    pooled = interrater.set_index("annotator").loc["all"]
    assert paper["annotator_mre_mm"][0] == pooled["annotator_mre_mm"] and paper["n_pairs"][0] == pooled["n_pairs"]
    assert paper["annotator_mre_mm"][1] == 1.1 and paper["method"][1] == "AFLE"
