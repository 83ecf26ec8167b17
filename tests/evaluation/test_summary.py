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
        "method", "n_cases", "n_landmarks", "mre_mm", "sd_mm", "median_mm",
        "sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm", "n_missed", "n_false_detections",
    ]
    assert list(table["method"]) == ["net", "none"]


def test_summarize_hand_computed(errors: pd.DataFrame) -> None:
    row = summarize(errors).set_index("method").loc["net"]
    assert row["n_cases"] == 2
    assert row["n_landmarks"] == 4
    # errors 5.0, 2.0, 2.5, 3.0: mean 12.5 / 4; squared deviations 1.875², 1.125², 0.625², 0.125².
    assert row["mre_mm"] == pytest.approx(3.125, abs=1e-12)
    assert row["sd_mm"] == pytest.approx(math.sqrt(5.1875 / 3), abs=1e-12)
    assert row["median_mm"] == pytest.approx(2.75, abs=1e-12)
    # error <= threshold counts: 2.0 -> {2.0}; 2.5 -> {2.0, 2.5}; 3 and 4 -> {2.0, 2.5, 3.0}.
    assert row["sdr_2mm"] == pytest.approx(25.0)
    assert row["sdr_2.5mm"] == pytest.approx(50.0)
    assert row["sdr_3mm"] == pytest.approx(75.0)
    assert row["sdr_4mm"] == pytest.approx(75.0)
    assert row["n_missed"] == 1
    assert row["n_false_detections"] == 1


def test_summarize_nothing_evaluated_is_nan_not_zero(errors: pd.DataFrame) -> None:
    row = summarize(errors).set_index("method").loc["none"]
    assert row["n_cases"] == 2 and row["n_landmarks"] == 0
    assert row["n_missed"] == 5 and row["n_false_detections"] == 0
    assert row[["mre_mm", "sd_mm", "median_mm", "sdr_2mm", "sdr_4mm"]].isna().all()


def test_summarize_custom_thresholds(errors: pd.DataFrame) -> None:
    table = summarize(errors, sdr_thresholds_mm=(1, 5.0))
    assert list(table.columns)[6:8] == ["sdr_1mm", "sdr_5mm"]
    row = table.set_index("method").loc["net"]
    assert row["sdr_1mm"] == 0.0 and row["sdr_5mm"] == 100.0


@pytest.mark.parametrize("thresholds", [(0.0,), (-1.0,), (float("nan"),), (2.0, 2)])
def test_summarize_rejects_bad_thresholds(errors: pd.DataFrame, thresholds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="SDR thresholds"):
        summarize(errors, sdr_thresholds_mm=thresholds)


def test_per_landmark_hand_computed(errors: pd.DataFrame) -> None:
    table = per_landmark(errors)
    assert list(table.columns) == ["method", "landmark", "n", "mre_mm", "sd_mm", "median_mm", "max_mm"]
    net = table[table["method"] == "net"].set_index("landmark")
    assert list(net.index) == ["A", "B", "C"]
    assert list(net["n"]) == [2, 1, 1]
    # A: 5.0 and 2.5; B: 2.0 (c2 missed); C: 3.0 (c1 reference absent).
    np.testing.assert_allclose(net["mre_mm"], [3.75, 2.0, 3.0])
    assert net.loc["A", "sd_mm"] == pytest.approx(math.sqrt(2 * 1.25**2))
    assert net[["sd_mm"]].loc[["B", "C"]].isna().all().all()
    np.testing.assert_allclose(net["median_mm"], [3.75, 2.0, 3.0])
    np.testing.assert_allclose(net["max_mm"], [5.0, 2.0, 3.0])
    none = table[table["method"] == "none"]
    assert list(none["n"]) == [0, 0, 0] and none["mre_mm"].isna().all()


def test_per_case_hand_computed(errors: pd.DataFrame) -> None:
    table = per_case(errors)
    assert list(table.columns) == ["method", "case", "n", "mre_mm", "max_mm"]
    net = table[table["method"] == "net"].set_index("case")
    assert list(net["n"]) == [2, 2]
    np.testing.assert_allclose(net["mre_mm"], [3.5, 2.75])
    np.testing.assert_allclose(net["max_mm"], [5.0, 3.0])
