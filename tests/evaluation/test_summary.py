"""Benchmark tables against values computed by hand on a 2-case x 3-landmark example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nnlandmark.evaluation.errors import collect_errors
from nnlandmark.evaluation.summary import per_case, per_landmark, summarize
from nnlandmark.landmarks.landmark_set import LandmarkSet


@pytest.fixture
def errors() -> pd.DataFrame:
    """Method "net": errors 5.0, 2.0 | 2.5, 3.0; c1/C a false detection, c2/B missed.

    Method "none" predicts nothing: 5 missed, nothing evaluated.
    """
    references = {
        "c1": LandmarkSet.from_points({"A": (10, 20, 30), "B": (0, 0, 0), "C": None}),
        "c2": LandmarkSet.from_points({"A": (0, 0, 0), "B": (5, 5, 5), "C": (-1, -2, -3)}),
    }
    net = {
        "c1": LandmarkSet.from_points({"A": (13, 24, 30), "B": (0, 0, 2), "C": (1, 1, 1)}),
        "c2": LandmarkSet.from_points({"A": (1.5, 2, 0), "B": None, "C": (-1, -2, 0)}),
    }
    none = {case: LandmarkSet.from_points({}) for case in references}
    return pd.concat(
        [collect_errors(references, net, method="net"), collect_errors(references, none, method="none")],
        ignore_index=True,
    )


def test_summarize_columns(errors: pd.DataFrame) -> None:
    table = summarize(errors)
    assert list(table.columns) == [
        "method", "n_cases", "n_detected", "mre_mm", "sd_mm", "median_mm", "n_missed", "n_landmarks",
        "sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm", "n_false_detections", "max_mm",
    ]
    assert list(table["method"]) == ["net", "none"]


def test_gross_failures_and_the_largest_error_are_reported(errors: pd.DataFrame) -> None:
    # detected errors of "net": 5.0, 2.0, 2.5, 3.0 mm (the missed landmark is not a gross failure)
    row = summarize(errors, gross_error_mm=2.75).set_index("method").loc["net"]
    assert row["max_mm"] == 5.0
    assert row["gross_error_mm"] == 2.75 and row["n_gross"] == 2
    assert summarize(errors, gross_error_mm=5.0).set_index("method").loc["net", "n_gross"] == 0
    assert summarize(errors, gross_error_mm=2.75).set_index("method").loc["none", "n_gross"] == 0


def test_summarize_hand_computed(errors: pd.DataFrame) -> None:
    row = summarize(errors).set_index("method").loc["net"]
    assert row["n_cases"] == 2
    assert row["n_detected"] == 4 and row["n_missed"] == 1 and row["n_landmarks"] == 5
    # errors 5.0, 2.0, 2.5, 3.0: mean 12.5 / 4; squared deviations 1.875², 1.125², 0.625², 0.125².
    assert row["mre_mm"] == pytest.approx(3.125, abs=1e-12)
    assert row["sd_mm"] == pytest.approx(math.sqrt(5.1875 / 3), abs=1e-12)
    assert row["median_mm"] == pytest.approx(2.75, abs=1e-12)
    # over the 5 reference landmarks, c2/B missed (a failure): 2.0 -> {2.0}; 2.5 -> {2.0, 2.5};
    # 3 and 4 -> {2.0, 2.5, 3.0}.
    assert row["sdr_2mm"] == pytest.approx(20.0)
    assert row["sdr_2.5mm"] == pytest.approx(40.0)
    assert row["sdr_3mm"] == pytest.approx(60.0)
    assert row["sdr_4mm"] == pytest.approx(60.0)
    assert row["n_false_detections"] == 1


def test_declaring_landmarks_absent_never_raises_sdr(errors: pd.DataFrame) -> None:
    """Dropping the worst prediction (c1/A, 5 mm) lowers MRE but must not raise SDR: it becomes a miss."""
    before = summarize(errors).set_index("method").loc["net"]
    worse = errors.copy()
    drop = (worse["method"] == "net") & (worse["case"] == "c1") & (worse["landmark"] == "A")
    worse.loc[drop, ["pred_present", "error_mm"]] = [False, float("nan")]
    after = summarize(worse).set_index("method").loc["net"]
    assert after["mre_mm"] < before["mre_mm"]  # the MRE over detected landmarks improves ...
    assert after["n_missed"] == before["n_missed"] + 1  # ... and the miss is shown beside it
    for column in ("sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm"):
        assert after[column] == pytest.approx(before[column])  # 5 mm was a failure already, and still is
    assert after["n_landmarks"] == before["n_landmarks"] == 5


def test_summarize_nothing_evaluated_is_nan_not_zero(errors: pd.DataFrame) -> None:
    row = summarize(errors).set_index("method").loc["none"]
    assert row["n_cases"] == 2 and row["n_detected"] == 0 and row["n_landmarks"] == 5
    assert row["n_missed"] == 5 and row["n_false_detections"] == 0
    assert row[["mre_mm", "sd_mm", "median_mm"]].isna().all()
    assert row["sdr_2mm"] == 0.0 and row["sdr_4mm"] == 0.0  # every reference landmark missed: a failure


def test_sdr_undefined_without_reference_landmarks() -> None:
    reference = {"c1": LandmarkSet.from_points({"A": None})}
    errors = collect_errors(reference, {"c1": LandmarkSet.from_points({"A": (1, 2, 3)})}, method="net")
    row = summarize(errors).iloc[0]
    assert row["n_landmarks"] == 0 and row["n_false_detections"] == 1 and math.isnan(row["sdr_2mm"])


def test_summarize_custom_thresholds(errors: pd.DataFrame) -> None:
    table = summarize(errors, sdr_thresholds_mm=(1, 5.0))
    assert list(table.columns)[8:10] == ["sdr_1mm", "sdr_5mm"]
    row = table.set_index("method").loc["net"]
    assert row["sdr_1mm"] == 0.0 and row["sdr_5mm"] == 80.0  # 4 of 5 within 5 mm; the miss fails


@pytest.mark.parametrize("thresholds", [(0.0,), (-1.0,), (float("nan"),), (2.0, 2)])
def test_summarize_rejects_bad_thresholds(errors: pd.DataFrame, thresholds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="SDR thresholds"):
        summarize(errors, sdr_thresholds_mm=thresholds)


def test_per_landmark_hand_computed(errors: pd.DataFrame) -> None:
    table = per_landmark(errors)
    assert list(table.columns) == ["method", "landmark", "n_detected", "mre_mm", "sd_mm", "median_mm", "max_mm",
                                   "n_missed", "n_false_detections"]
    net = table[table["method"] == "net"].set_index("landmark")
    assert list(net.index) == ["A", "B", "C"]
    assert list(net["n_detected"]) == [2, 1, 1]
    assert list(net["n_missed"]) == [0, 1, 0] and list(net["n_false_detections"]) == [0, 0, 1]
    # A: 5.0 and 2.5; B: 2.0 (c2 missed); C: 3.0 (c1 reference absent).
    np.testing.assert_allclose(net["mre_mm"], [3.75, 2.0, 3.0])
    assert net.loc["A", "sd_mm"] == pytest.approx(math.sqrt(2 * 1.25**2))
    assert net[["sd_mm"]].loc[["B", "C"]].isna().all().all()
    np.testing.assert_allclose(net["median_mm"], [3.75, 2.0, 3.0])
    np.testing.assert_allclose(net["max_mm"], [5.0, 2.0, 3.0])
    none = table[table["method"] == "none"]
    assert list(none["n_detected"]) == [0, 0, 0] and none["mre_mm"].isna().all()
    assert list(none["n_missed"]) == [2, 2, 1]


def test_per_case_hand_computed(errors: pd.DataFrame) -> None:
    table = per_case(errors)
    assert list(table.columns) == ["method", "case", "n_detected", "mre_mm", "max_mm", "n_missed"]
    net = table[table["method"] == "net"].set_index("case")
    assert list(net["n_detected"]) == [2, 2] and list(net["n_missed"]) == [0, 1]
    np.testing.assert_allclose(net["mre_mm"], [3.5, 2.75])
    np.testing.assert_allclose(net["max_mm"], [5.0, 3.0])


def test_fold_table_lists_each_folds_gross_failures() -> None:
    from nnlandmark.evaluation.summary import fold_table

    table = fold_table({1: {"n_cases": 3, "n_landmarks": 30, "mre_mm": 2.0, "median_mm": 1.5, "max_mm": 40.0,
                            "gross_error_mm": 8.0, "n_gross": 2},
                        0: {"n_cases": 3, "mre_mm": 1.0}})  # written before max_mm and n_gross existed
    assert list(table["fold"]) == [0, 1]
    assert table.loc[1, "n_gross"] == 2 and table.loc[1, "max_mm"] == 40.0
    assert np.isnan(table.loc[0, "n_gross"]) and np.isnan(table.loc[0, "max_mm"])


def test_fold_table_reads_each_fold_at_the_absence_threshold() -> None:
    from nnlandmark.evaluation.summary import fold_table

    def record(present: bool, confidence: float, error: float | None) -> dict:
        return {"reference_present": present, "confidence": confidence, "error_mm": error}

    summary = {"n_cases": 1, "n_landmarks": 4, "gross_error_mm": 8.0, "n_gross": 2, "confidences": [
        record(True, 0.002, 40.0),   # not learned: far off, reported absent at 0.05
        record(True, 0.6, 30.0),     # confidently wrong: a gross failure reported present
        record(True, 0.7, 1.0),
        record(True, 0.01, 2.0),     # right place, too little confidence: a false absence
        record(False, 0.3, None),    # absent, reported present
    ]}
    old = {"n_cases": 1, "confidences": [{"reference_present": True, "confidence": 0.5}]}
    table = fold_table({0: summary, 1: old}, absent_below=0.05)
    row = table.loc[0]
    assert (row["n_gross"], row["n_gross_detected"], row["n_false_absent"], row["n_false_present"]) == (2, 1, 2, 1)
    assert row["absent_below"] == 0.05
    assert np.isnan(table.loc[1, "n_gross_detected"])  # written before validation recorded errors
    assert "n_gross_detected" not in fold_table({0: summary}).columns


def test_fold_table_reads_landmarks_with_their_own_threshold_at_it() -> None:
    from nnlandmark.evaluation.summary import fold_table
    from nnlandmark.inference.absence import AbsenceThresholds

    records = [{"landmark": "navel", "reference_present": True, "confidence": 0.01, "error_mm": 1.0},
               {"landmark": "sphere_R", "reference_present": False, "confidence": 0.03, "error_mm": None},
               {"landmark": "sphere_L", "reference_present": True, "confidence": 0.4, "error_mm": 1.0}]
    summary = {"n_cases": 1, "n_landmarks": 2, "gross_error_mm": 8.0, "n_gross": 0, "confidences": records}
    overall = fold_table({0: summary}, absent_below=0.005).loc[0]
    own = fold_table({0: summary}, absent_below=AbsenceThresholds(0.005, {"sphere_L": 0.2, "sphere_R": 0.2})).loc[0]
    assert (overall["n_false_present"], overall["n_false_absent"]) == (1, 0)
    assert (own["n_false_present"], own["n_false_absent"], own["absent_below"]) == (0, 0, 0.005)


def test_fold_table_reads_each_fold_at_its_own_thresholds() -> None:
    """Per-fold figures at thresholds chosen without the fold (evaluate_predictions passes one per fold)."""
    from nnlandmark.evaluation.summary import fold_table
    from nnlandmark.inference.absence import AbsenceThresholds

    records = [{"landmark": "a", "reference_present": False, "confidence": 0.3, "error_mm": None}]
    summary = {"n_cases": 1, "n_landmarks": 1, "gross_error_mm": 8.0, "n_gross": 0, "confidences": records}
    table = fold_table({0: summary, 1: summary}, absent_below={0: AbsenceThresholds(0.5), 1: AbsenceThresholds(0.1)})
    assert table["n_false_present"].tolist() == [0, 1]
    assert table["absent_below"].tolist() == [0.5, 0.1]
