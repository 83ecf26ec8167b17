"""Benchmark tables from radial errors: MRE +- SD, median, SDR per method, per landmark and per case.

Two denominators, each named in the column and stated in every caption:

- ``sdr_<t>mm`` (success detection rate) is over **all landmarks present in the reference**
  (``n_landmarks``): a missed landmark (predicted absent) counts as a failure. This is the convention of
  the published MML benchmark, so these are the numbers to set beside published SDRs; declaring a
  landmark absent can never raise them.
- ``mre_mm``, ``sd_mm``, ``median_mm`` and ``max_mm`` are over **detected** landmarks only (present in
  reference and prediction, ``n_detected``), since a missed landmark has no distance; ``n_missed`` stands
  beside them so that a low MRE bought by declaring landmarks absent shows.

``n_landmarks = n_detected + n_missed``. ``n_false_detections`` (reference absent, predicted present)
enters neither statistic and is counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nnlandmark.evaluation.errors import evaluated_mask
from nnlandmark.inference.absence import AbsenceThresholds, is_gross_failure

DEFAULT_SDR_THRESHOLDS_MM: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0)
SDR_CONVENTION = (
    "SDR is the percentage of all landmarks present in the reference that are predicted within the distance: "
    "a missed landmark counts as a failure, as in the published MML benchmark"
)
DETECTED_CONVENTION = (
    "Distance statistics (MRE, SD, median, max) are over detected landmarks only (present in reference and "
    "prediction), with the missed ones (reference present, predicted absent) counted beside them"
)
COUNT_COLUMNS: tuple[str, ...] = ("n_detected", "n_missed", "n_landmarks", "n_false_detections")


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


def success(errors_mm: np.ndarray, threshold_mm: float) -> np.ndarray:
    """100 where the error is at most ``threshold_mm``, else 0; a NaN error (missed landmark) is a failure."""
    values = np.asarray(errors_mm, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return 100.0 * (np.nan_to_num(values, nan=np.inf) <= threshold_mm)


def _stats(errors_mm: np.ndarray) -> dict[str, float]:
    """Statistics of detected errors; NaN where undefined (no errors, or SD of a single one)."""
    n = errors_mm.size
    return {
        "mre_mm": float(np.mean(errors_mm)) if n else math.nan,
        "sd_mm": float(np.std(errors_mm, ddof=1)) if n > 1 else math.nan,
        "median_mm": float(np.median(errors_mm)) if n else math.nan,
        "max_mm": float(np.max(errors_mm)) if n else math.nan,
    }


def _counts(group: pd.DataFrame) -> dict[str, int]:
    """Detected, missed, reference-present and falsely detected landmarks of ``group``."""
    ref = group["ref_present"].astype(bool)
    pred = group["pred_present"].astype(bool)
    return {
        "n_detected": int((ref & pred).sum()),
        "n_missed": int((ref & ~pred).sum()),
        "n_landmarks": int(ref.sum()),
        "n_false_detections": int((~ref & pred).sum()),
    }


def summarize(
    errors: pd.DataFrame,
    *,
    sdr_thresholds_mm: Sequence[float] = DEFAULT_SDR_THRESHOLDS_MM,
    gross_error_mm: float | None = None,
) -> pd.DataFrame:
    """One row per method (in order of appearance).

    ``n_detected``, ``mre_mm``, ``sd_mm``, ``median_mm`` and ``n_missed`` describe the detected landmarks;
    ``n_landmarks`` and every ``sdr_<t>mm`` (percent within ``t`` mm, missed = failure) all landmarks
    present in the reference; then ``n_false_detections``. Statistics with nothing detected are NaN; SDR
    is NaN only when the reference has no landmark present, and 0 when all of them are missed. Last come
    ``max_mm`` and, with ``gross_error_mm``, the detected landmarks farther than that (``n_gross``).
    """
    thresholds = check_thresholds(sdr_thresholds_mm)
    evaluated = evaluated_mask(errors)
    rows = []
    for method, group in errors.groupby("method", sort=False):
        detected = group.loc[evaluated[group.index], "error_mm"].to_numpy(dtype=np.float64)
        scored = group.loc[group["ref_present"].astype(bool), "error_mm"].to_numpy(dtype=np.float64)
        stats = _stats(detected)
        row: dict[str, object] = {"method": method, "n_cases": int(group["case"].nunique()), **_counts(group)}
        row.update({k: stats[k] for k in ("mre_mm", "sd_mm", "median_mm")})
        for t in thresholds:
            row[sdr_column(t)] = float(np.mean(success(scored, t))) if scored.size else math.nan
        row["max_mm"] = stats["max_mm"]
        if gross_error_mm is not None:
            row["gross_error_mm"] = float(gross_error_mm)
            row["n_gross"] = int((detected > gross_error_mm).sum())
        rows.append(row)
    columns = ["method", "n_cases", "n_detected", "mre_mm", "sd_mm", "median_mm", "n_missed", "n_landmarks"]
    columns += [sdr_column(t) for t in thresholds] + ["n_false_detections", "max_mm"]
    if gross_error_mm is not None:
        columns += ["gross_error_mm", "n_gross"]
    return pd.DataFrame(rows, columns=columns)


def _grouped(errors: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Statistics of detected errors and the counts per (method, key); groups with nothing detected stay."""
    evaluated = evaluated_mask(errors)
    rows = []
    for (method, value), group in errors.groupby(["method", key], sort=False):
        values = group.loc[evaluated[group.index], "error_mm"].to_numpy(dtype=np.float64)
        rows.append({"method": method, key: value, **_counts(group), **_stats(values)})
    return pd.DataFrame(rows, columns=columns)


def per_landmark(errors: pd.DataFrame) -> pd.DataFrame:
    """Per method and landmark: MRE, sample SD, median and max over the ``n_detected`` detected landmarks
    (mm), then ``n_missed`` and ``n_false_detections``."""
    return _grouped(errors, "landmark", ["method", "landmark", "n_detected", "mre_mm", "sd_mm", "median_mm",
                                         "max_mm", "n_missed", "n_false_detections"])


def per_case(errors: pd.DataFrame) -> pd.DataFrame:
    """Per method and case: MRE and max error over the ``n_detected`` detected landmarks (mm), then
    ``n_missed``."""
    return _grouped(errors, "case", ["method", "case", "n_detected", "mre_mm", "max_mm", "n_missed"])


FOLD_COLUMNS = ("n_cases", "n_landmarks", "mre_mm", "median_mm", "max_mm", "gross_error_mm", "n_gross")
# at the absence threshold the test predictions used: gross failures among the landmarks the fold reports
# present, present landmarks it reports absent, absent ones it reports present
THRESHOLD_COLUMNS = ("absent_below", "n_gross_detected", "n_false_absent", "n_false_present")


def fold_detection(summary: dict, absent_below: float | AbsenceThresholds) -> dict[str, float]:
    """A fold's validation read at the absence thresholds (:data:`THRESHOLD_COLUMNS`); NaN for old summaries.

    ``absent_below``: one threshold, or the model's :class:`AbsenceThresholds` (landmarks' own where they have
    one); the ``absent_below`` column is the overall one.
    """
    records = summary.get("confidences", [])
    if not records or any("error_mm" not in r for r in records):
        return {k: math.nan for k in THRESHOLD_COLUMNS}
    thresholds = absent_below if isinstance(absent_below, AbsenceThresholds) else AbsenceThresholds(float(absent_below))
    gross_mm = float(summary["gross_error_mm"])

    def present(record: dict) -> bool:
        return record["confidence"] >= thresholds.landmarks.get(record.get("landmark"), thresholds.overall)

    detected = [r for r in records if present(r)]
    return {
        "absent_below": float(thresholds.overall),
        "n_gross_detected": sum(is_gross_failure(r, gross_mm) for r in detected),
        "n_false_absent": sum(r["reference_present"] and not present(r) for r in records),
        "n_false_present": sum(not r["reference_present"] for r in detected),
    }


def fold_table(summaries: dict[int, dict], *,
               absent_below: float | AbsenceThresholds | Mapping[int, AbsenceThresholds] | None = None
               ) -> pd.DataFrame:
    """One row per fold from its whole-case validation summary (``training/fold_N.json``).

    Summaries written before ``max_mm``/``n_gross`` existed give NaN there rather than a wrong zero. With
    ``absent_below`` (one set of thresholds, or each fold's: chosen without that fold's records), each fold's
    landmarks are also read as the test predictions are: gross failures among those reported present, and
    false absences.
    """
    rows = []
    for fold in sorted(summaries):
        row = {"fold": fold, **{k: summaries[fold].get(k, math.nan) for k in FOLD_COLUMNS}}
        if absent_below is not None:
            own = absent_below[fold] if isinstance(absent_below, Mapping) else absent_below
            row.update(fold_detection(summaries[fold], own))
        rows.append(row)
    columns = ["fold", *FOLD_COLUMNS, *(THRESHOLD_COLUMNS if absent_below is not None else ())]
    return pd.DataFrame(rows, columns=columns)
