"""Uncertainty of benchmark numbers: percentile bootstrap over cases, and paired Wilcoxon signed-rank tests."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

logger = logging.getLogger(__name__)

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class BootstrapSettings:
    """How confidence intervals are drawn: number of resamples, generator seed, confidence level."""

    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise ValueError(f"expected n_resamples >= 1, got {self.n_resamples}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"expected a confidence level in (0, 1), got {self.confidence}")

    @classmethod
    def from_config(cls, block: Mapping[str, object] | None) -> BootstrapSettings:
        """From the config's ``evaluation`` block (keys ``bootstrap_resamples``, ``bootstrap_seed``,
        ``confidence_level``); missing keys keep the defaults."""
        block = block or {}
        return cls(
            n_resamples=int(block.get("bootstrap_resamples", DEFAULT_RESAMPLES)),
            seed=int(block.get("bootstrap_seed", DEFAULT_SEED)),
            confidence=float(block.get("confidence_level", DEFAULT_CONFIDENCE)),
        )


DEFAULT_BOOTSTRAP = BootstrapSettings()


def case_bootstrap_means(
    cases: Sequence[object],
    columns: Mapping[str, np.ndarray],
    *,
    settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
) -> dict[str, tuple[float, float]]:
    """Percentile confidence interval of the pooled mean of each column, resampling whole cases.

    ``cases`` labels the rows (one row per case and landmark); every column has one value per row.
    The distinct cases, sorted, are drawn with replacement ``n_resamples`` times with
    ``numpy.random.default_rng(seed).integers(0, n_cases, size=(n_resamples, n_cases))``; each resample's
    statistic is the mean over all rows of the drawn cases (a case drawn twice counts twice). Resampling
    cases, not rows, keeps the landmarks of one case together, since they are not independent. All
    columns share the same draws, so intervals of paired columns are comparable. Fewer than 2 cases
    give (NaN, NaN).
    """
    labels = np.asarray([str(c) for c in cases])
    values = {name: np.asarray(col, dtype=np.float64).reshape(-1) for name, col in columns.items()}
    for name, col in values.items():
        if col.shape != labels.shape:
            raise ValueError(f"column {name!r} has {col.size} values for {labels.size} case labels")
        if not np.all(np.isfinite(col)):
            raise ValueError(f"column {name!r} has non-finite values; pass evaluated rows only")
    unique, inverse = np.unique(labels, return_inverse=True)
    if unique.size < 2:
        return {name: (math.nan, math.nan) for name in values}
    counts = np.bincount(inverse, minlength=unique.size).astype(np.float64)
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, unique.size, size=(settings.n_resamples, unique.size))
    n_drawn = counts[draws].sum(axis=1)
    alpha = 100.0 * (1.0 - settings.confidence) / 2.0
    result = {}
    for name, col in values.items():
        sums = np.bincount(inverse, weights=col, minlength=unique.size)
        means = sums[draws].sum(axis=1) / n_drawn
        low, high = np.percentile(means, [alpha, 100.0 - alpha])
        result[name] = (float(low), float(high))
    return result


def wilcoxon_paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples ``a`` and ``b`` (statistic, p-value).

    scipy's defaults (zero differences dropped, exact distribution for small samples); (NaN, NaN) when
    fewer than one non-zero difference remains.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    if not np.any(a - b != 0):
        return math.nan, math.nan
    result = stats.wilcoxon(a, b)
    return float(result.statistic), float(result.pvalue)
