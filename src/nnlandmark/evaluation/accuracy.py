"""Accuracy tables with bootstrap confidence intervals: per method, and per method and landmark.

Each interval resamples the rows its point estimate is computed from: the MRE's the detected landmarks,
an SDR's every landmark present in the reference with a missed one scored as a failure (see
:mod:`nnlandmark.evaluation.summary`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nnlandmark.evaluation.errors import evaluated_mask
from nnlandmark.evaluation.statistics import DEFAULT_BOOTSTRAP, BootstrapSettings, case_bootstrap_means
from nnlandmark.evaluation.summary import (
    DEFAULT_SDR_THRESHOLDS_MM,
    check_thresholds,
    per_landmark,
    sdr_column,
    success,
    summarize,
)


def ci_columns(column: str) -> tuple[str, str]:
    """Names of the lower and upper confidence bounds of ``column``, e.g. ``mre_mm_ci_low``."""
    return f"{column}_ci_low", f"{column}_ci_high"


def _bounds(cases: np.ndarray, columns: dict[str, np.ndarray], settings: BootstrapSettings) -> dict[str, float]:
    """``{<column>_ci_low: ..., <column>_ci_high: ...}`` of every column, resampling ``cases``."""
    out = {}
    for name, (low, high) in case_bootstrap_means(cases, columns, settings=settings).items():
        out.update(dict(zip(ci_columns(name), (low, high))))
    return out


def _intervals(group: pd.DataFrame, thresholds: Sequence[float], settings: BootstrapSettings) -> dict[str, float]:
    """CI bounds of the MRE (detected rows of ``group``) and each SDR (reference-present rows, missed = 0)."""
    detected = group[group["ref_present"].astype(bool) & group["pred_present"].astype(bool)]
    out = _bounds(detected["case"].to_numpy(), {"mre_mm": detected["error_mm"].to_numpy(dtype=np.float64)},
                  settings)
    scored = group[group["ref_present"].astype(bool)]
    values = scored["error_mm"].to_numpy(dtype=np.float64)
    out.update(_bounds(scored["case"].to_numpy(), {sdr_column(t): success(values, t) for t in thresholds},
                       settings))
    return out


def accuracy_table(
    errors: pd.DataFrame,
    *,
    sdr_thresholds_mm: Sequence[float] = DEFAULT_SDR_THRESHOLDS_MM,
    settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
) -> pd.DataFrame:
    """:func:`summarize` per method, with a bootstrap CI (over cases) beside MRE and every SDR.

    Columns: method, n_cases, n_detected, mre_mm, mre_mm_ci_low, mre_mm_ci_high, sd_mm, median_mm,
    n_missed (all over detected landmarks), n_landmarks, then per threshold sdr_<t>mm and its two bounds
    (over every reference landmark, missed = failure), then n_false_detections.
    """
    thresholds = check_thresholds(sdr_thresholds_mm)
    summary = summarize(errors, sdr_thresholds_mm=thresholds)
    evaluated_mask(errors)  # refuse an inconsistent table before resampling it
    rows = []
    for _, row in summary.iterrows():
        group = errors[errors["method"] == row["method"]]
        rows.append({**row.to_dict(), **_intervals(group, thresholds, settings)})
    columns = ["method", "n_cases", "n_detected", "mre_mm", *ci_columns("mre_mm"), "sd_mm", "median_mm",
               "n_missed", "n_landmarks"]
    for t in thresholds:
        columns += [sdr_column(t), *ci_columns(sdr_column(t))]
    columns += ["n_false_detections"]
    return pd.DataFrame(rows, columns=columns)


def per_landmark_accuracy(
    errors: pd.DataFrame, *, settings: BootstrapSettings = DEFAULT_BOOTSTRAP
) -> pd.DataFrame:
    """:func:`per_landmark` with the MRE's bootstrap CI over cases (detected landmarks).

    Columns: method, landmark, n_detected, mre_mm, mre_mm_ci_low, mre_mm_ci_high, sd_mm, median_mm, max_mm,
    n_missed, n_false_detections.
    """
    table = per_landmark(errors)
    mask = evaluated_mask(errors)
    low, high = [], []
    for _, row in table.iterrows():
        rows = (errors["method"] == row["method"]) & (errors["landmark"] == row["landmark"])
        group = errors.loc[rows & mask]
        bounds = case_bootstrap_means(group["case"].to_numpy(), {"mre_mm": group["error_mm"].to_numpy()},
                                      settings=settings)["mre_mm"]
        low.append(bounds[0])
        high.append(bounds[1])
    table.insert(table.columns.get_loc("mre_mm") + 1, "mre_mm_ci_low", low)
    table.insert(table.columns.get_loc("mre_mm_ci_low") + 1, "mre_mm_ci_high", high)
    return table
