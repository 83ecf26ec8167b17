"""Figure of the inter-rater comparison: annotation and model MRE against the same consensus, with CIs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from nnlandmark.evaluation.figure_io import FigurePaths, new_figure, save_figure

logger = logging.getLogger(__name__)

_SERIES = (("annotator_mre_mm", "annotation vs consensus", "o", "tab:blue"),
           ("model_mre_mm", "model vs consensus", "s", "tab:orange"))


def _panel(ax: Axes, table: pd.DataFrame, key: str, *, title: str, ylabel: str) -> None:
    """Two markers per row of ``table`` (annotation, model), each with its CI as a horizontal bar."""
    labels = [str(v) for v in table[key]]
    y = np.arange(len(labels), dtype=float)
    for offset, (column, label, marker, colour) in zip((-0.15, 0.15), _SERIES):
        mean = table[column].to_numpy(dtype=np.float64)
        low = table[f"{column}_ci_low"].to_numpy(dtype=np.float64)
        high = table[f"{column}_ci_high"].to_numpy(dtype=np.float64)
        # No CI (fewer than 2 cases) draws the point without a bar rather than a NaN bar.
        xerr = np.vstack([np.where(np.isfinite(low), mean - low, 0.0), np.where(np.isfinite(high), high - mean, 0.0)])
        ax.errorbar(mean, y + offset, xerr=xerr, fmt=marker, color=colour, capsize=3, markersize=5, label=label)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("Mean radial error against the consensus (mm)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)


def plot_model_vs_raters(
    by_annotator: pd.DataFrame, by_landmark: pd.DataFrame, path: FigurePaths, *, confidence: float = 0.95
) -> None:
    """Top: per held-out annotation (and pooled); bottom: per landmark. Tables of
    :func:`~nnlandmark.evaluation.interrater_summary.summarize_consensus` (``by="annotator"``) and
    :func:`~nnlandmark.evaluation.interrater_summary.interrater_per_landmark`; rows without pairs are skipped.
    """
    top = by_annotator[by_annotator["n_pairs"] > 0]
    bottom = by_landmark[by_landmark["n_pairs"] > 0]
    if top.empty:
        raise ValueError("no annotation has a pair (annotation, consensus and model all present) to plot")
    n_top, n_bottom = len(top), len(bottom)
    figure = new_figure(path, width=8.0, height=2.6 + 0.4 * (n_top + n_bottom))
    figure.set_layout_engine("constrained")
    grid = figure.add_gridspec(2, 1, height_ratios=[n_top + 1.5, n_bottom + 1.5])
    ci = f"{100 * confidence:g} % CI"
    upper = figure.add_subplot(grid[0])
    _panel(upper, top, "annotator", title=f"Per held-out annotation ({ci})", ylabel="Held-out annotation")
    if n_bottom:
        lower = figure.add_subplot(grid[1], sharex=upper)
        _panel(lower, bottom, "landmark", title=f"Per landmark, pooled over annotations ({ci})", ylabel="Landmark")
    values = [t[c].to_numpy(dtype=np.float64) for t in (top, bottom) for s in _SERIES
              for c in (s[0], f"{s[0]}_ci_high")]
    upper.set_xlim(0, 1.05 * float(np.nanmax(np.concatenate(values))))
    figure.suptitle("Annotations and model against the same leave-one-out consensus")
    handles, labels = upper.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=2, fontsize="small")
    save_figure(figure, path, tight=False)
