"""Evaluation: radial errors, benchmark tables (MRE, SDR, missed/false detections, bootstrap CIs), inter-rater
comparison, baseline, plots and the report's tables."""

from __future__ import annotations

from nnlandmark.evaluation.accuracy import accuracy_table, per_landmark_accuracy
from nnlandmark.evaluation.baseline import MeanPositionBaseline
from nnlandmark.evaluation.errors import (
    ERROR_COLUMNS,
    collect_errors,
    evaluated_mask,
    landmark_sets_from_errors,
    radial_errors,
)
from nnlandmark.evaluation.interrater import CONSENSUS_RULE, consensus_errors, pairwise_rater_errors
from nnlandmark.evaluation.interrater_summary import (
    interrater_per_landmark,
    summarize_consensus,
    summarize_rater_pairs,
)
from nnlandmark.evaluation.plots import plot_cumulative_errors, plot_per_landmark_errors
from nnlandmark.evaluation.reference_mode import ReferenceMode, resolve_reference_mode
from nnlandmark.evaluation.statistics import BootstrapSettings, case_bootstrap_means, wilcoxon_paired
from nnlandmark.evaluation.summary import (
    DEFAULT_SDR_THRESHOLDS_MM,
    per_case,
    per_landmark,
    sdr_column,
    summarize,
)

__all__ = [
    "CONSENSUS_RULE",
    "DEFAULT_SDR_THRESHOLDS_MM",
    "ERROR_COLUMNS",
    "BootstrapSettings",
    "MeanPositionBaseline",
    "ReferenceMode",
    "accuracy_table",
    "case_bootstrap_means",
    "collect_errors",
    "consensus_errors",
    "evaluated_mask",
    "interrater_per_landmark",
    "landmark_sets_from_errors",
    "pairwise_rater_errors",
    "per_case",
    "per_landmark",
    "per_landmark_accuracy",
    "plot_cumulative_errors",
    "plot_per_landmark_errors",
    "radial_errors",
    "resolve_reference_mode",
    "sdr_column",
    "summarize",
    "summarize_consensus",
    "summarize_rater_pairs",
    "wilcoxon_paired",
]
