"""Benchmark tables from radial errors: MRE +- SD, median, SDR per method, per landmark and per case."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nnlandmark.evaluation.errors import evaluated_mask

DEFAULT_SDR_THRESHOLDS_MM: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0)


def sdr_column(threshold_mm: float) -> str:
    """Column name of the success detection rate at ``threshold_mm``, e.g. ``sdr_2.5mm``."""
    return f"sdr_{threshold_mm:g}mm"


def check_thresholds(thresholds_mm: Sequence[float]) -> tuple[float, ...]:
    """SDR thresholds as floats; each must be finite, positive and give a distinct column name."""
    values = tuple(float(t) for t in thresholds_mm)
    bad = [t for t in values if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ValueError(f"SDR thresholds must be finite and > 0 mm, got {bad}")
    names = [sdr_column(t) for t in values]
    if len(set(names)) != len(names):
        raise ValueError(f"SDR thresholds give duplicate columns: {names}")
    return values


def _stats(errors_mm: np.ndarray) -> dict[str, float]:
    """Statistics of evaluated errors; NaN where undefined (no errors, or SD of a single one)."""
    n = errors_mm.size
    return {
        "mre_mm": float(np.mean(errors_mm)) if n else math.nan,
        "sd_mm": float(np.std(errors_mm, ddof=1)) if n > 1 else math.nan,
        "median_mm": float(np.median(errors_mm)) if n else math.nan,
        "max_mm": float(np.max(errors_mm)) if n else math.nan,
    }


def summarize(
    errors: pd.DataFrame, *, sdr_thresholds_mm: Sequence[float] = DEFAULT_SDR_THRESHOLDS_MM
) -> pd.DataFrame:
    """One row per method (in order of appearance).

    Statistics and SDR (percent with error <= threshold) use the evaluated landmarks only, those present
    in both reference and prediction (``n_landmarks``); the others are counted, not hidden:
    ``n_missed`` (reference present, predicted absent) and ``n_false_detections`` (reference absent,
    predicted present). With nothing evaluated, statistics and SDR are NaN.
    """
    thresholds = check_thresholds(sdr_thresholds_mm)
    evaluated = evaluated_mask(errors)
    ref = errors["ref_present"].astype(bool)
    pred = errors["pred_present"].astype(bool)
    rows = []
    for method, group in errors.groupby("method", sort=False):
        values = errors.loc[group.index[evaluated[group.index]], "error_mm"].to_numpy(dtype=np.float64)
        stats = _stats(values)
        row: dict[str, object] = {
            "method": method,
            "n_cases": int(group["case"].nunique()),
            "n_landmarks": int(values.size),
            "mre_mm": stats["mre_mm"],
            "sd_mm": stats["sd_mm"],
            "median_mm": stats["median_mm"],
        }
        for t in thresholds:
            row[sdr_column(t)] = 100.0 * float(np.mean(values <= t)) if values.size else math.nan
        row["n_missed"] = int((ref[group.index] & ~pred[group.index]).sum())
        row["n_false_detections"] = int((~ref[group.index] & pred[group.index]).sum())
        rows.append(row)
    columns = ["method", "n_cases", "n_landmarks", "mre_mm", "sd_mm", "median_mm"]
    columns += [sdr_column(t) for t in thresholds] + ["n_missed", "n_false_detections"]
    return pd.DataFrame(rows, columns=columns)


def _grouped(errors: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Statistics of evaluated errors per (method, key); groups with nothing evaluated keep n = 0."""
    evaluated = evaluated_mask(errors)
    rows = []
    for (method, value), group in errors.groupby(["method", key], sort=False):
        values = group.loc[evaluated[group.index], "error_mm"].to_numpy(dtype=np.float64)
        rows.append({"method": method, key: value, "n": int(values.size), **_stats(values)})
    return pd.DataFrame(rows, columns=columns)


def per_landmark(errors: pd.DataFrame) -> pd.DataFrame:
    """Per method and landmark: n evaluated, MRE, sample SD, median and max error (mm)."""
    return _grouped(errors, "landmark", ["method", "landmark", "n", "mre_mm", "sd_mm", "median_mm", "max_mm"])


def per_case(errors: pd.DataFrame) -> pd.DataFrame:
    """Per method and case: n evaluated, MRE and max error (mm)."""
    return _grouped(errors, "case", ["method", "case", "n", "mre_mm", "max_mm"])
