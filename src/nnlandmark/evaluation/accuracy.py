"""Accuracy tables with bootstrap confidence intervals: per method, and per method and landmark."""

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
    summarize,
)


def ci_columns(column: str) -> tuple[str, str]:
    """Names of the lower and upper confidence bounds of ``column``, e.g. ``mre_mm_ci_low``."""
    return f"{column}_ci_low", f"{column}_ci_high"


def _intervals(group: pd.DataFrame, thresholds: Sequence[float], settings: BootstrapSettings) -> dict[str, float]:
    """CI bounds of MRE and each SDR over the evaluated rows of ``group``."""
    values = group["error_mm"].to_numpy(dtype=np.float64)
    columns = {"mre_mm": values}
    for t in thresholds:
        columns[sdr_column(t)] = 100.0 * (values <= t)
    bounds = case_bootstrap_means(group["case"].to_numpy(), columns, settings=settings)
    out = {}
    for name, (low, high) in bounds.items():
        out.update(dict(zip(ci_columns(name), (low, high))))
    return out


def accuracy_table(
    errors: pd.DataFrame,
    *,
    sdr_thresholds_mm: Sequence[float] = DEFAULT_SDR_THRESHOLDS_MM,
    settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
) -> pd.DataFrame:
    """:func:`summarize` per method, with a bootstrap CI (over cases) beside MRE and every SDR.

    Columns: method, n_cases, n_landmarks, mre_mm, mre_mm_ci_low, mre_mm_ci_high, sd_mm, median_mm,
    then per threshold sdr_<t>mm and its two bounds, then n_missed and n_false_detections.
    """
    thresholds = check_thresholds(sdr_thresholds_mm)
    summary = summarize(errors, sdr_thresholds_mm=thresholds)
    evaluated = errors.loc[evaluated_mask(errors)]
    rows = []
    for _, row in summary.iterrows():
        group = evaluated[evaluated["method"] == row["method"]]
        rows.append({**row.to_dict(), **_intervals(group, thresholds, settings)})
    columns = ["method", "n_cases", "n_landmarks", "mre_mm", *ci_columns("mre_mm"), "sd_mm", "median_mm"]
    for t in thresholds:
        columns += [sdr_column(t), *ci_columns(sdr_column(t))]
    columns += ["n_missed", "n_false_detections"]
    return pd.DataFrame(rows, columns=columns)


def per_landmark_accuracy(
    errors: pd.DataFrame, *, settings: BootstrapSettings = DEFAULT_BOOTSTRAP
) -> pd.DataFrame:
    """:func:`per_landmark` with the MRE's bootstrap CI over cases, and missed / false detections counted.

    Columns: method, landmark, n, mre_mm, mre_mm_ci_low, mre_mm_ci_high, sd_mm, median_mm, max_mm,
    n_missed, n_false_detections.
    """
    table = per_landmark(errors)
    mask = evaluated_mask(errors)
    ref = errors["ref_present"].astype(bool)
    pred = errors["pred_present"].astype(bool)
    low, high = [], []
    missed, false = [], []
    for _, row in table.iterrows():
        rows = (errors["method"] == row["method"]) & (errors["landmark"] == row["landmark"])
        group = errors.loc[rows & mask]
        bounds = case_bootstrap_means(group["case"].to_numpy(), {"mre_mm": group["error_mm"].to_numpy()},
                                      settings=settings)["mre_mm"]
        low.append(bounds[0])
        high.append(bounds[1])
        missed.append(int((rows & ref & ~pred).sum()))
        false.append(int((rows & ~ref & pred).sum()))
    table.insert(table.columns.get_loc("mre_mm") + 1, "mre_mm_ci_low", low)
    table.insert(table.columns.get_loc("mre_mm_ci_low") + 1, "mre_mm_ci_high", high)
    table["n_missed"] = missed
    table["n_false_detections"] = false
    return table
