"""Accuracy tables: every confidence interval uses the same landmarks as its point estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nnlandmark.evaluation.accuracy import accuracy_table, per_landmark_accuracy
from nnlandmark.evaluation.errors import collect_errors
from nnlandmark.evaluation.plots import step_curve
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.landmarks.landmark_set import LandmarkSet

SETTINGS = BootstrapSettings(n_resamples=400, seed=3)


@pytest.fixture
def half_missed() -> pd.DataFrame:
    """8 cases x 2 landmarks: A predicted exactly, B missed in cases 0-5 and 3 mm off in cases 6-7."""
    references, predictions = {}, {}
    for i in range(8):
        a, b = np.array([i, 0.0, 0.0]), np.array([0.0, i, 10.0])
        references[f"c{i}"] = LandmarkSet.from_points({"A": a, "B": b})
        predictions[f"c{i}"] = LandmarkSet.from_points({"A": a, "B": None if i < 6 else b + [3.0, 0, 0]})
    return collect_errors(references, predictions, method="net")


def test_sdr_and_its_interval_count_missed_landmarks_as_failures(half_missed: pd.DataFrame) -> None:
    row = accuracy_table(half_missed, sdr_thresholds_mm=(2.0,), settings=SETTINGS).iloc[0]
    assert row["n_landmarks"] == 16 and row["n_detected"] == 10 and row["n_missed"] == 6
    assert row["sdr_2mm"] == pytest.approx(50.0)  # 8 of 16; over detected ones it would be 80 %
    # every case has A hit and B missed or 3 mm off: 50 % in any resample, so the interval is [50, 50]
    assert row["sdr_2mm_ci_low"] == pytest.approx(50.0) and row["sdr_2mm_ci_high"] == pytest.approx(50.0)
    # the MRE and its interval stay over detected landmarks: 8 x 0 mm and 2 x 3 mm
    assert row["mre_mm"] == pytest.approx(0.6)
    assert 0.0 <= row["mre_mm_ci_low"] <= 0.6 < row["mre_mm_ci_high"]


def test_sdr_interval_brackets_its_estimate(half_missed: pd.DataFrame) -> None:
    row = accuracy_table(half_missed, sdr_thresholds_mm=(4.0,), settings=SETTINGS).iloc[0]
    assert row["sdr_4mm"] == pytest.approx(62.5)  # 10 of 16: the two 3 mm predictions now succeed
    assert row["sdr_4mm_ci_low"] < 62.5 < row["sdr_4mm_ci_high"]


def test_per_landmark_counts(half_missed: pd.DataFrame) -> None:
    table = per_landmark_accuracy(half_missed, settings=SETTINGS).set_index("landmark")
    assert list(table["n_detected"]) == [8, 2] and list(table["n_missed"]) == [0, 6]
    assert table.loc["B", "mre_mm"] == pytest.approx(3.0)


def test_cumulative_curve_meets_the_sdr(half_missed: pd.DataFrame) -> None:
    """The cumulative curve counts missed landmarks in its denominator, so it ends at the detected share."""
    values = half_missed["error_mm"].to_numpy()
    x, y = step_curve(values, 10.0)
    assert y[-1] == pytest.approx(62.5)  # 10 of 16 ever found
    at_2mm = y[np.searchsorted(x, 2.0, side="right") - 1]
    assert at_2mm == pytest.approx(accuracy_table(half_missed, sdr_thresholds_mm=(2.0,)).iloc[0]["sdr_2mm"])
