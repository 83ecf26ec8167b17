"""Tables of the inter-rater comparison: rater pairs, and model vs annotations against the same consensus."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nnlandmark.evaluation.accuracy import ci_columns
from nnlandmark.evaluation.statistics import (
    DEFAULT_BOOTSTRAP,
    BootstrapSettings,
    case_bootstrap_means,
    wilcoxon_paired,
)

ALL = "all"
PAIR_SUMMARY_COLUMNS = [
    "annotator_a", "annotator_b", "n_cases", "n_landmarks", "mre_mm", *ci_columns("mre_mm"), "sd_mm",
    "median_mm", "n_presence_disagreements",
]


def _consensus_summary_columns(key: str) -> list[str]:
    return [
        key, "consensus", "n_cases", "n_pairs",
        "annotator_mre_mm", *ci_columns("annotator_mre_mm"), "model_mre_mm", *ci_columns("model_mre_mm"),
        "difference_mm", *ci_columns("difference_mm"), "wilcoxon_statistic", "wilcoxon_p",
        "n_annotator_absent", "n_annotator_extra", "n_model_missed", "n_model_false_detections",
    ]


def summarize_rater_pairs(pairs: pd.DataFrame, *, settings: BootstrapSettings = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Per pair of annotators, then all pairs pooled (``annotator_a = annotator_b = "all"``).

    Statistics use landmarks both annotations mark present (``n_landmarks``); landmarks exactly one of
    them marks present are counted as ``n_presence_disagreements``. The CI resamples cases.
    """
    groups = [((a, b), g) for (a, b), g in pairs.groupby(["annotator_a", "annotator_b"], sort=False)]
    if len(groups) > 1:
        groups.append(((ALL, ALL), pairs))
    rows = []
    for (a, b), group in groups:
        both = group["a_present"].astype(bool) & group["b_present"].astype(bool)
        values = group.loc[both, "error_mm"].to_numpy(dtype=np.float64)
        low, high = case_bootstrap_means(group.loc[both, "case"].to_numpy(), {"e": values}, settings=settings)["e"]
        rows.append({
            "annotator_a": a, "annotator_b": b, "n_cases": int(group["case"].nunique()), "n_landmarks": values.size,
            "mre_mm": float(values.mean()) if values.size else math.nan, "mre_mm_ci_low": low,
            "mre_mm_ci_high": high, "sd_mm": float(values.std(ddof=1)) if values.size > 1 else math.nan,
            "median_mm": float(np.median(values)) if values.size else math.nan,
            "n_presence_disagreements": int((group["a_present"].astype(bool) != group["b_present"].astype(bool)).sum()),
        })
    return pd.DataFrame(rows, columns=PAIR_SUMMARY_COLUMNS)


POOLED_CONSENSUS = "leave-one-out mean of the other annotations of each case"
POOLED_RATER_CONSENSUS = "leave-one-out mean of the other raters of each case (reference, their mean, left out)"


def pooled_consensus(reference_is_consensus: bool) -> str:
    """The consensus text of pooled rows."""
    return POOLED_RATER_CONSENSUS if reference_is_consensus else POOLED_CONSENSUS


def _consensus_text(group: pd.DataFrame) -> str:
    """Which annotations formed the consensus of one held-out annotator's rows."""
    used = sorted({a for text in group["consensus_of"].dropna() for a in str(text).split(";") if a})
    return f"leave-one-out mean of {', '.join(used)}" if used else "none"


def _consensus_row(group: pd.DataFrame, settings: BootstrapSettings, *, consensus: str) -> dict[str, object]:
    """Paired statistics on rows where annotator and model errors both exist (same cases and landmarks)."""
    own = group["annotator_present"].astype(bool)
    target = group["consensus_present"].astype(bool)
    model = group["model_present"].astype(bool)
    paired = group[own & target & model]
    a = paired["annotator_error_mm"].to_numpy(dtype=np.float64)
    m = paired["model_error_mm"].to_numpy(dtype=np.float64)
    bounds = case_bootstrap_means(paired["case"].to_numpy(), {"a": a, "m": m, "d": m - a}, settings=settings)
    statistic, p = wilcoxon_paired(m, a) if a.size else (math.nan, math.nan)
    mean = (lambda v: float(v.mean()) if v.size else math.nan)
    return {
        "consensus": consensus, "n_cases": int(paired["case"].nunique()), "n_pairs": int(a.size),
        "annotator_mre_mm": mean(a), "annotator_mre_mm_ci_low": bounds["a"][0], "annotator_mre_mm_ci_high": bounds["a"][1],
        "model_mre_mm": mean(m), "model_mre_mm_ci_low": bounds["m"][0], "model_mre_mm_ci_high": bounds["m"][1],
        "difference_mm": mean(m - a), "difference_mm_ci_low": bounds["d"][0], "difference_mm_ci_high": bounds["d"][1],
        "wilcoxon_statistic": statistic, "wilcoxon_p": p,
        "n_annotator_absent": int((target & ~own).sum()), "n_annotator_extra": int((~target & own).sum()),
        "n_model_missed": int((target & ~model).sum()), "n_model_false_detections": int((~target & model).sum()),
    }


def summarize_consensus(
    consensus: pd.DataFrame,
    *,
    by: str = "annotator",
    settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """Annotation vs model against the same leave-one-out consensus, per ``by`` value and pooled.

    ``by="annotator"``: one row per held-out annotator, then ``"all"`` pooling every row;
    ``by="landmark"``: one row per landmark, pooled over annotators. MREs, their difference
    (model - annotator) and the Wilcoxon signed-rank test use the *paired* rows only: annotation, consensus
    and model all present. The other rows are counted: ``n_annotator_absent`` (consensus present, annotation
    absent), ``n_annotator_extra`` (annotation present, consensus absent), ``n_model_missed`` and
    ``n_model_false_detections`` (the same for the model). CIs resample cases; the test treats the pairs as
    independent although landmarks of one case are not, so read its p-value as descriptive.
    ``reference_is_consensus`` (as given to :func:`~nnlandmark.evaluation.interrater.consensus_errors`) only
    changes the pooled rows' ``consensus`` text.
    """
    if by not in ("annotator", "landmark"):
        raise ValueError(f"expected by='annotator' or 'landmark', got {by!r}")
    columns = _consensus_summary_columns(by)
    groups = [(key, g) for key, g in consensus.groupby(by, sort=False)]
    if by == "annotator" and len(groups) > 1:
        groups.append((ALL, consensus))
    rows = []
    for key, group in groups:
        text = _consensus_text(group) if by == "annotator" and key != ALL else pooled_consensus(reference_is_consensus)
        rows.append({by: key, **_consensus_row(group, settings, consensus=text)})
    return pd.DataFrame(rows, columns=columns)


def interrater_per_landmark(
    consensus: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """:func:`summarize_consensus` by landmark, with the rater-vs-rater MRE of all pairs beside it
    (``pairwise_n``: landmarks both annotations of a pair mark present; ``pairwise_mre_mm``)."""
    table = summarize_consensus(consensus, by="landmark", settings=settings,
                                reference_is_consensus=reference_is_consensus)
    both = pairs[pairs["a_present"].astype(bool) & pairs["b_present"].astype(bool)]
    pairwise = both.groupby("landmark", sort=False)["error_mm"].agg(["size", "mean"])
    table.insert(4, "pairwise_n", [int(pairwise["size"].get(k, 0)) for k in table["landmark"]])
    table.insert(5, "pairwise_mre_mm", [float(pairwise["mean"].get(k, math.nan)) for k in table["landmark"]])
    return table
