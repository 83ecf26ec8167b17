"""Radial errors against hand-computed distances, with absent landmarks on either side."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from nnlandmark.evaluation.errors import ERROR_COLUMNS, collect_errors, evaluated_mask, radial_errors
from nnlandmark.landmarks.landmark_set import LandmarkSet


def tiny_example() -> tuple[dict[str, LandmarkSet], dict[str, LandmarkSet]]:
    """2 cases x 3 landmarks; errors 5.0, 2.0 | 2.5, 3.0; one false detection, one miss."""
    references = {
        "c1": LandmarkSet.from_points({"A": (10, 20, 30), "B": (0, 0, 0), "C": None}),
        "c2": LandmarkSet.from_points({"A": (0, 0, 0), "B": (5, 5, 5), "C": (-1, -2, -3)}),
    }
    predictions = {
        # Different order than the reference; C is a false detection.
        "c1": LandmarkSet.from_points({"C": (1, 1, 1), "B": (0, 0, 2), "A": (13, 24, 30)}),
        # B missed; confidences carried through.
        "c2": LandmarkSet.from_points({"A": (1.5, 2, 0), "B": None, "C": (-1, -2, 0)}).with_confidence(
            [0.9, 0.1, 0.8]
        ),
    }
    return references, predictions


def test_radial_errors_columns_and_values() -> None:
    references, predictions = tiny_example()
    table = radial_errors(references["c1"], predictions["c1"], case="c1", method="net")
    assert list(table.columns) == list(ERROR_COLUMNS)
    assert list(table["landmark"]) == ["A", "B", "C"]
    assert list(table["method"]) == ["net"] * 3 and list(table["case"]) == ["c1"] * 3
    assert list(table["ref_present"]) == [True, True, False]
    assert list(table["pred_present"]) == [True, True, True]
    assert table["error_mm"].iloc[0] == 5.0  # 3-4-5 triangle
    assert table["error_mm"].iloc[1] == 2.0
    assert math.isnan(table["error_mm"].iloc[2])
    assert table.loc[0, ["x_ref", "y_ref", "z_ref"]].tolist() == [10.0, 20.0, 30.0]
    assert table.loc[0, ["x_pred", "y_pred", "z_pred"]].tolist() == [13.0, 24.0, 30.0]
    assert table.loc[2, ["x_ref", "y_ref", "z_ref"]].isna().all()
    assert table.loc[2, ["x_pred", "y_pred", "z_pred"]].tolist() == [1.0, 1.0, 1.0]
    assert table["confidence"].isna().all()


def test_radial_errors_missed_and_confidence() -> None:
    references, predictions = tiny_example()
    table = radial_errors(references["c2"], predictions["c2"], case="c2", method="net")
    assert table["error_mm"].iloc[0] == 2.5
    assert math.isnan(table["error_mm"].iloc[1])
    assert table["error_mm"].iloc[2] == 3.0
    assert list(table["pred_present"]) == [True, False, True]
    assert table.loc[1, ["x_pred", "y_pred", "z_pred"]].isna().all()
    np.testing.assert_allclose(table["confidence"], [0.9, 0.1, 0.8])


def test_landmark_missing_from_prediction_counts_as_absent(caplog: pytest.LogCaptureFixture) -> None:
    reference = LandmarkSet.from_points({"A": (0, 0, 0), "B": (1, 1, 1)})
    prediction = LandmarkSet.from_points({"A": (0, 0, 1), "Z": (9, 9, 9)})
    with caplog.at_level(logging.WARNING, logger="nnlandmark.evaluation.errors"):
        table = radial_errors(reference, prediction, case="c", method="m")
    assert list(table["landmark"]) == ["A", "B"]
    assert list(table["pred_present"]) == [True, False]
    assert "Z" in caplog.text


def test_collect_errors_concatenates_cases() -> None:
    references, predictions = tiny_example()
    table = collect_errors(references, predictions, method="net")
    assert list(table.columns) == list(ERROR_COLUMNS)
    assert list(table["case"]) == ["c1"] * 3 + ["c2"] * 3
    np.testing.assert_array_equal(table["error_mm"], [5.0, 2.0, np.nan, 2.5, np.nan, 3.0])
    assert list(evaluated_mask(table)) == [True, True, False, True, False, True]


def test_collect_errors_names_missing_cases() -> None:
    references, predictions = tiny_example()
    references["c3"] = references["c1"]
    references["c4"] = references["c2"]
    with pytest.raises(ValueError, match="c3, c4"):
        collect_errors(references, {"c1": predictions["c1"], "c2": predictions["c2"]}, method="net")


def test_evaluated_mask_refuses_inconsistent_table() -> None:
    references, predictions = tiny_example()
    table = collect_errors(references, predictions, method="net")
    table.loc[0, "error_mm"] = np.nan
    with pytest.raises(ValueError, match="c1/A"):
        evaluated_mask(table)


def test_evaluated_mask_refuses_duplicated_rows() -> None:
    references, predictions = tiny_example()
    table = collect_errors(references, predictions, method="net")
    with pytest.raises(ValueError, match="duplicated"):
        evaluated_mask(pd.concat([table, table], ignore_index=True))
