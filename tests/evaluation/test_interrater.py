"""Inter-rater comparison on a hand-made example: three annotations, absent landmarks, a model."""

from __future__ import annotations

import math

import pytest

from nnlandmark.evaluation.interrater import (
    REFERENCE,
    consensus_errors,
    multi_annotated_cases,
    pairwise_rater_errors,
)
from nnlandmark.evaluation.interrater_summary import (
    interrater_per_landmark,
    summarize_consensus,
    summarize_rater_pairs,
)
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.landmarks.landmark_set import LandmarkSet
from tests.evaluation.recompute import assert_same_table, interrater

NAMES = ("A", "B")
BOOT = BootstrapSettings(n_resamples=200, seed=1)


def lm(points: dict) -> LandmarkSet:
    return LandmarkSet.from_points(points, order=NAMES)


@pytest.fixture
def annotations() -> dict[str, dict[str, LandmarkSet]]:
    """c1: three annotations (r2 misses B); c2: reference and r1; c3: the reference only."""
    return {
        REFERENCE: {"c1": lm({"A": (0, 0, 0), "B": (10, 0, 0)}), "c2": lm({"A": (0, 0, 0), "B": None}),
                    "c3": lm({"A": (0, 0, 0), "B": (1, 1, 1)})},
        "r1": {"c1": lm({"A": (2, 0, 0), "B": (10, 4, 0)}), "c2": lm({"A": (0, 3, 0), "B": (5, 5, 5)})},
        "r2": {"c1": lm({"A": (0, 0, 4), "B": None})},
    }


@pytest.fixture
def model() -> dict[str, LandmarkSet]:
    return {"c1": lm({"A": (1, 0, 0), "B": (10, 1, 0)}), "c2": lm({"A": (0, 0, 1), "B": None}),
            "c3": lm({"A": (0, 0, 0), "B": (1, 1, 1)})}


def test_cases_with_two_annotations(annotations) -> None:
    assert multi_annotated_cases(annotations) == ["c1", "c2"]


def test_leave_one_out_consensus_by_hand(annotations, model) -> None:
    rows = consensus_errors(annotations, model).set_index(["annotator", "case", "landmark"])
    # reference held out in c1: consensus of A = mean((2,0,0), (0,0,4)) = (1,0,2)
    row = rows.loc[(REFERENCE, "c1", "A")]
    assert row["consensus_of"] == "r1;r2" and row["n_consensus"] == 2
    assert row["annotator_error_mm"] == pytest.approx(math.sqrt(5))  # (0,0,0) to (1,0,2)
    assert row["model_error_mm"] == pytest.approx(2.0)  # (1,0,0) to (1,0,2)
    # r2 marks B absent: reference's consensus of B is r1's point alone
    row = rows.loc[(REFERENCE, "c1", "B")]
    assert row["consensus_of"] == "r1" and row["annotator_error_mm"] == pytest.approx(4.0)
    assert row["model_error_mm"] == pytest.approx(3.0)
    # r2 held out: its B is absent while the consensus (reference, r1) exists
    row = rows.loc[("r2", "c1", "B")]
    assert not row["annotator_present"] and row["consensus_present"] and math.isnan(row["annotator_error_mm"])
    assert row["model_error_mm"] == pytest.approx(math.dist((10, 1, 0), (10, 2, 0)))
    # r1 held out in c2: the reference has no B, so no consensus; r1 marks it (annotator extra)
    row = rows.loc[("r1", "c2", "B")]
    assert row["consensus_of"] == "" and not row["consensus_present"] and row["annotator_present"]
    assert "c3" not in rows.index.get_level_values("case")  # one annotation only
    assert len(rows) == 2 * (2 + 2 + 1)  # landmarks x (reference: c1, c2; r1: c1, c2; r2: c1)


def test_pairwise_errors(annotations) -> None:
    pairs = pairwise_rater_errors(annotations)
    assert list(dict.fromkeys(zip(pairs["annotator_a"], pairs["annotator_b"]))) == [
        (REFERENCE, "r1"), (REFERENCE, "r2"), ("r1", "r2")]
    row = pairs[(pairs["annotator_a"] == REFERENCE) & (pairs["annotator_b"] == "r1") & (pairs["case"] == "c2")]
    assert row["error_mm"].iloc[0] == pytest.approx(3.0) and math.isnan(row["error_mm"].iloc[1])


def test_summaries_match_a_plain_recomputation(annotations, model) -> None:
    consensus, pairs = consensus_errors(annotations, model), pairwise_rater_errors(annotations)
    as_dicts = {a: {c: {n: (None if not s.present[k] else tuple(s.points[k])) for k, n in enumerate(NAMES)}
                    for c, s in per_case.items()} for a, per_case in annotations.items()}
    predicted = {c: {n: (None if not s.present[k] else tuple(s.points[k])) for k, n in enumerate(NAMES)}
                 for c, s in model.items()}
    boot = {"n_resamples": BOOT.n_resamples, "seed": BOOT.seed, "confidence": BOOT.confidence}
    want = interrater(as_dicts, predicted, NAMES, boot)
    assert_same_table(summarize_rater_pairs(pairs, settings=BOOT), want["pairs"], what="pairs")
    assert_same_table(summarize_consensus(consensus, settings=BOOT), want["by_annotator"], what="by annotator")
    assert_same_table(interrater_per_landmark(consensus, pairs, settings=BOOT), want["by_landmark"], what="by landmark")
    assert_same_table(consensus, want["rows"], what="rows")
    assert_same_table(pairs, want["pair_rows"], what="pair rows")


def test_absent_handling_is_counted(annotations, model) -> None:
    table = summarize_consensus(consensus_errors(annotations, model), settings=BOOT).set_index("annotator")
    assert table.loc["r2", "n_annotator_absent"] == 1  # B of c1
    assert table.loc["r1", "n_annotator_extra"] == 1  # B of c2, where the reference has none
    assert table.loc["all", "n_pairs"] == table.loc[[REFERENCE, "r1", "r2"], "n_pairs"].sum()
    assert table.loc[REFERENCE, "consensus"] == "leave-one-out mean of r1, r2"


def test_no_raters_gives_empty_tables(annotations, model) -> None:
    only = {REFERENCE: annotations[REFERENCE]}
    assert consensus_errors(only, model).empty and pairwise_rater_errors(only).empty
    assert summarize_consensus(consensus_errors(only, model)).empty
    assert interrater_per_landmark(consensus_errors(only, model), pairwise_rater_errors(only)).empty
    assert summarize_rater_pairs(pairwise_rater_errors(only)).empty
