"""Evaluation: radial errors, benchmark tables (MRE, SDR, missed/false detections), baseline and plots."""

from __future__ import annotations

from nnlandmark.evaluation.baseline import MeanPositionBaseline
from nnlandmark.evaluation.errors import ERROR_COLUMNS, collect_errors, evaluated_mask, radial_errors
from nnlandmark.evaluation.plots import plot_cumulative_errors, plot_per_landmark_errors
from nnlandmark.evaluation.summary import (
    DEFAULT_SDR_THRESHOLDS_MM,
    per_case,
    per_landmark,
    sdr_column,
    summarize,
)

__all__ = [
    "DEFAULT_SDR_THRESHOLDS_MM",
    "ERROR_COLUMNS",
    "MeanPositionBaseline",
    "collect_errors",
    "evaluated_mask",
    "per_case",
    "per_landmark",
    "plot_cumulative_errors",
    "plot_per_landmark_errors",
    "radial_errors",
    "sdr_column",
    "summarize",
]
