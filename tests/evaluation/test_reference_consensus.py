"""Inter-rater comparison when the reference is itself the raters' mean (as the AFIDs ground truth is)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.evaluation.interrater import REFERENCE, consensus_errors, pairwise_rater_errors
from nnlandmark.evaluation.interrater_summary import summarize_consensus
from nnlandmark.evaluation.reference_mode import rater_mean_deviation, resolve_reference_mode
from nnlandmark.evaluation.report_tables import POOLED_RATERS, write_interrater, write_paper_interrater
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.landmarks.landmark_set import LandmarkSet
from tests.evaluation.recompute import assert_same_table, interrater

NAMES = ("A", "B")
BOOT = BootstrapSettings(n_resamples=200, seed=1)
RATERS = {
    "r1": {"c1": {"A": (0, 0, 0), "B": (10, 0, 0)}, "c2": {"A": (1, 1, 1), "B": (5, 5, 5)}},
    "r2": {"c1": {"A": (3, 0, 0), "B": (10, 6, 0)}, "c2": {"A": (1, 4, 1), "B": None}},
    "r3": {"c1": {"A": (0, 6, 0), "B": (10, 0, 9)}, "c2": {"A": (1, 1, 7), "B": (5, 8, 5)}},
}
MODEL = {"c1": {"A": (1, 1, 1), "B": (11, 2, 3)}, "c2": {"A": (2, 2, 2), "B": (5, 6, 5)}}


def lm(points: dict) -> LandmarkSet:
    return LandmarkSet.from_points(points, order=NAMES)


def mean_of(raters: list[str], case: str, name: str) -> np.ndarray:
    return np.mean([RATERS[r][case][name] for r in raters if RATERS[r][case][name] is not None], axis=0)


@pytest.fixture
def raters() -> dict[str, dict[str, LandmarkSet]]:
    return {r: {c: lm(points) for c, points in per_case.items()} for r, per_case in RATERS.items()}


@pytest.fixture
def reference() -> dict[str, LandmarkSet]:
    """The mean of the three raters, over those marking the landmark present."""
    return {c: lm({k: tuple(mean_of(list(RATERS), c, k)) for k in NAMES}) for c in ("c1", "c2")}


@pytest.fixture
def annotations(reference, raters) -> dict[str, dict[str, LandmarkSet]]:
    return {REFERENCE: reference, **raters}


@pytest.fixture
def model() -> dict[str, LandmarkSet]:
    return {c: lm(points) for c, points in MODEL.items()}


def test_auto_detects_a_consensus_reference(reference, raters) -> None:
    worst, n_cases, _ = rater_mean_deviation(reference, raters)
    assert n_cases == 2 and worst < 1e-9
    mode = resolve_reference_mode("auto", reference, raters)
    assert mode.is_consensus and "within 0.01 mm" in mode.reason and "2 case(s)" in mode.reason


def test_auto_keeps_an_independent_reference(reference, raters) -> None:
    shifted = dict(reference, c2=lm({"A": tuple(reference["c2"].point("A") + [0.0, 0.05, 0.0]),
                                     "B": tuple(reference["c2"].point("B"))}))
    mode = resolve_reference_mode("auto", shifted, raters)
    assert not mode.is_consensus and "0.05 mm" in mode.reason and "c2/A" in mode.reason
    one_rater = resolve_reference_mode("auto", reference, {"r1": raters["r1"]})
    assert not one_rater.is_consensus and "no test case has two or more raters" in one_rater.reason
    # a reference landmark that no rater marks present cannot be their mean
    twins = {"r2": raters["r2"], "r2bis": raters["r2"]}
    copy = {c: lm({k: tuple(s.point(k)) if s.point(k) is not None else (5, 5, 5) for k in NAMES})
            for c, s in raters["r2"].items()}
    assert rater_mean_deviation(copy, twins)[0] == math.inf
    assert not resolve_reference_mode("auto", copy, twins).is_consensus


def test_setting_given_or_refused(reference, raters) -> None:
    assert not resolve_reference_mode(False, reference, raters).is_consensus
    assert resolve_reference_mode(True, reference, {}).is_consensus
    with pytest.raises(ValueError, match="true, false or 'auto'"):
        resolve_reference_mode("yes", reference, raters)


def test_rater_measured_against_the_other_raters_only(annotations, model) -> None:
    rows = consensus_errors(annotations, model, reference_is_consensus=True)
    assert REFERENCE not in set(rows["annotator"])  # the reference is not held out either
    rows = rows.set_index(["annotator", "case", "landmark"])
    row = rows.loc[("r1", "c1", "A")]
    target = mean_of(["r2", "r3"], "c1", "A")  # (1.5, 3, 0)
    assert row["consensus_of"] == "r2;r3" and row["n_consensus"] == 2
    assert row["annotator_error_mm"] == pytest.approx(math.dist((0, 0, 0), target))
    assert row["model_error_mm"] == pytest.approx(math.dist(MODEL["c1"]["A"], target))  # the same target
    row = rows.loc[("r1", "c2", "B")]  # r2 marks B absent in c2: r3 alone
    assert row["consensus_of"] == "r3" and row["annotator_error_mm"] == pytest.approx(3.0)
    assert len(rows) == 3 * 2 * 2  # raters x cases x landmarks


def test_without_the_setting_the_reference_takes_part(annotations, model) -> None:
    """reference_is_consensus false: the former behaviour, the reference one annotation among the others."""
    rows = consensus_errors(annotations, model).set_index(["annotator", "case", "landmark"])
    row = rows.loc[("r1", "c1", "A")]
    target = np.mean([annotations[REFERENCE]["c1"].point("A"), RATERS["r2"]["c1"]["A"], RATERS["r3"]["c1"]["A"]],
                     axis=0)
    assert row["consensus_of"] == "reference;r2;r3"
    assert row["annotator_error_mm"] == pytest.approx(math.dist((0, 0, 0), target))
    assert (REFERENCE, "c1", "A") in rows.index
    assert len(rows) == 4 * 2 * 2
    assert consensus_errors(annotations, model, reference_is_consensus=False).equals(consensus_errors(annotations, model))


def test_pairs_of_raters_only(annotations) -> None:
    pairs = pairwise_rater_errors(annotations, reference_is_consensus=True)
    assert list(dict.fromkeys(zip(pairs["annotator_a"], pairs["annotator_b"]))) == [
        ("r1", "r2"), ("r1", "r3"), ("r2", "r3")]
    assert REFERENCE in set(pairwise_rater_errors(annotations)["annotator_a"])


def as_points(landmarks: LandmarkSet) -> dict:
    return {n: (tuple(map(float, p)) if ok else None) for n, p, ok in zip(landmarks.names, landmarks.points,
                                                                            landmarks.present)}


def test_tables_match_a_plain_recomputation(annotations, model, tmp_path: Path) -> None:
    consensus = consensus_errors(annotations, model, reference_is_consensus=True)
    table = write_interrater(consensus, tmp_path / "interrater", dataset="toy", settings=BOOT,
                             reference_is_consensus=True)
    plain = {a: {c: as_points(s) for c, s in per_case.items()} for a, per_case in annotations.items()}
    boot = {"n_resamples": BOOT.n_resamples, "seed": BOOT.seed, "confidence": BOOT.confidence}
    want = interrater(plain, {c: as_points(s) for c, s in model.items()}, NAMES, boot, reference_is_consensus=True)
    assert_same_table(table, want["by_annotator"], what="by annotator")
    assert_same_table(consensus, want["rows"], what="rows")
    caption = (tmp_path / "interrater.md").read_text()
    assert "itself the mean of the raters, is left out" in caption and "same point" in caption
    assert summarize_consensus(consensus, settings=BOOT)["consensus"].iloc[-1] != table["consensus"].iloc[-1]
    paper = write_paper_interrater({"toy": table}, {}, tmp_path / "paper")
    assert list(paper["method"]) == [POOLED_RATERS]
