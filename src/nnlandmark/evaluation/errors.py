"""Radial errors: one row per case, landmark and method, in LPS millimetres, absent landmarks kept."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nnlandmark.landmarks.landmark_set import LandmarkSet

logger = logging.getLogger(__name__)

ERROR_COLUMNS: tuple[str, ...] = (
    "method",
    "case",
    "landmark",
    "ref_present",
    "pred_present",
    "x_ref",
    "y_ref",
    "z_ref",
    "x_pred",
    "y_pred",
    "z_pred",
    "error_mm",
    "confidence",
)


def radial_errors(
    reference: LandmarkSet, prediction: LandmarkSet, *, case: str, method: str
) -> pd.DataFrame:
    """Euclidean error (mm) per reference landmark; NaN unless present in both reference and prediction.

    The prediction is matched by name; reference names it lacks count as predicted absent.
    """
    extra = [n for n in prediction.names if n not in set(reference.names)]
    if extra:
        logger.warning(
            "case %s, method %s: %d predicted landmark(s) not in the reference are not evaluated: %s",
            case, method, len(extra), ", ".join(extra),
        )
    pred = prediction.reorder(reference.names)
    both = reference.present & pred.present
    error = np.full(len(reference), np.nan)
    error[both] = np.linalg.norm(pred.points[both] - reference.points[both], axis=1)
    confidence = pred.confidence if pred.confidence is not None else np.full(len(reference), np.nan)
    table = pd.DataFrame(
        {
            "method": [method] * len(reference),
            "case": [case] * len(reference),
            "landmark": list(reference.names),
            "ref_present": reference.present.astype(bool),
            "pred_present": pred.present.astype(bool),
            "x_ref": reference.points[:, 0],
            "y_ref": reference.points[:, 1],
            "z_ref": reference.points[:, 2],
            "x_pred": pred.points[:, 0],
            "y_pred": pred.points[:, 1],
            "z_pred": pred.points[:, 2],
            "error_mm": error,
            "confidence": np.asarray(confidence, dtype=np.float64),
        },
        columns=list(ERROR_COLUMNS),
    )
    return table


def collect_errors(
    references: Mapping[str, LandmarkSet], predictions: Mapping[str, LandmarkSet], *, method: str
) -> pd.DataFrame:
    """Radial errors of every reference case (in the references' order); every case needs a prediction."""
    missing = [case for case in references if case not in predictions]
    if missing:
        raise ValueError(
            f"method {method!r}: no prediction for {len(missing)} of {len(references)} reference case(s): "
            f"{', '.join(map(str, missing))}"
        )
    unused = [case for case in predictions if case not in references]
    if unused:
        logger.warning(
            "method %s: %d predicted case(s) without a reference are not evaluated: %s",
            method, len(unused), ", ".join(map(str, unused)),
        )
    tables = [
        radial_errors(references[case], predictions[case], case=case, method=method) for case in references
    ]
    if not tables:
        return pd.DataFrame(columns=list(ERROR_COLUMNS))
    return pd.concat(tables, ignore_index=True)


def evaluated_mask(errors: pd.DataFrame) -> pd.Series:
    """Rows where reference and prediction are both present, after checking the table is consistent.

    Each (method, case, landmark) must occur once, and a finite ``error_mm`` exactly on those rows;
    anything else means the table was edited or assembled wrongly, and is refused rather than dropped.
    """
    missing = [c for c in ("method", "case", "landmark", "ref_present", "pred_present", "error_mm")
               if c not in errors.columns]
    if missing:
        raise ValueError(
            f"error table lacks column(s) {', '.join(missing)}; expected {', '.join(ERROR_COLUMNS)}"
        )
    not_bool = [c for c in ("ref_present", "pred_present") if not pd.api.types.is_bool_dtype(errors[c])]
    if not_bool and len(errors):
        raise ValueError(f"expected boolean column(s) {', '.join(not_bool)}, got "
                         f"{', '.join(str(errors[c].dtype) for c in not_bool)}")
    keys = errors[["method", "case", "landmark"]]
    if keys.isna().to_numpy().any():
        raise ValueError("error table has missing method, case or landmark values")
    duplicated = keys[keys.duplicated()]
    if len(duplicated):
        rows = ", ".join("/".join(map(str, r)) for r in duplicated.head(5).itertuples(index=False))
        raise ValueError(f"{len(duplicated)} duplicated (method, case, landmark) row(s), e.g. {rows}")
    both = errors["ref_present"].astype(bool) & errors["pred_present"].astype(bool)
    finite = pd.Series(np.isfinite(errors["error_mm"].to_numpy(dtype=np.float64)), index=errors.index)
    bad = errors[both != finite]
    if len(bad):
        rows = ", ".join(f"{r.case}/{r.landmark}" for r in bad.head(5).itertuples())
        raise ValueError(
            f"{len(bad)} row(s) where a finite error_mm does not match 'both present' (e.g. {rows}): "
            "expected a finite error exactly where ref_present and pred_present are both true"
        )
    return both


def landmark_sets_from_errors(errors: pd.DataFrame, *, method: str, side: str) -> dict[str, LandmarkSet]:
    """The reference (``side="ref"``) or predicted (``side="pred"``) landmark sets of one method's rows.

    Rebuilds, per case in order of appearance, what :func:`collect_errors` was given, so later steps can
    work from ``errors.csv`` alone. Confidence is kept for predictions.
    """
    if side not in ("ref", "pred"):
        raise ValueError(f"expected side 'ref' or 'pred', got {side!r}")
    rows = errors[errors["method"] == method]
    if rows.empty:
        known = ", ".join(map(str, dict.fromkeys(errors["method"])))
        raise ValueError(f"no rows of method {method!r} in the error table (methods: {known})")
    sets = {}
    for case, group in rows.groupby("case", sort=False):
        points = group[[f"x_{side}", f"y_{side}", f"z_{side}"]].to_numpy(dtype=np.float64)
        present = group[f"{side}_present"].to_numpy(dtype=bool)
        confidence = group["confidence"].to_numpy(dtype=np.float64) if side == "pred" else None
        sets[str(case)] = LandmarkSet(tuple(group["landmark"].astype(str)), points, present, confidence)
    return sets
