"""Figures of radial errors: per-landmark box plots and cumulative error curves (PNG or SVG)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns

from nnlandmark.evaluation.errors import evaluated_mask
from nnlandmark.evaluation.figure_io import FigurePaths, new_figure, save_figure
from nnlandmark.evaluation.summary import DEFAULT_SDR_THRESHOLDS_MM, check_thresholds

logger = logging.getLogger(__name__)


def _evaluated(errors: pd.DataFrame) -> pd.DataFrame:
    """Rows with an error (reference and prediction both present); none at all is an error."""
    table = errors.loc[evaluated_mask(errors)]
    if table.empty:
        raise ValueError(
            f"no evaluated landmarks to plot: none of the {len(errors)} row(s) has both reference and "
            "prediction present"
        )
    return table


def plot_per_landmark_errors(errors: pd.DataFrame, path: FigurePaths) -> None:
    """Box plot with individual points of the radial error per landmark; one colour per method.

    ``path``: one .png/.svg path or several (the same figure written to each).
    """
    table = _evaluated(errors)
    # From all rows, so a landmark never evaluated shows as an empty row rather than vanishing.
    landmarks = list(dict.fromkeys(errors["landmark"]))
    methods = list(dict.fromkeys(table["method"]))
    hue = "method" if len(methods) > 1 else None
    height = 1.5 + 0.35 * len(landmarks) * (1 + 0.3 * (len(methods) - 1))
    figure = new_figure(path, width=8.0, height=max(3.0, height))
    ax = figure.add_subplot()
    common = dict(data=table, x="error_mm", y="landmark", order=landmarks, orient="h", ax=ax)
    if hue:
        common.update(hue=hue, hue_order=methods)
    with warnings.catch_warnings():
        # seaborn 0.13.2 passes boxplot(vert=...), deprecated since matplotlib 3.11; not ours to fix.
        warnings.filterwarnings("ignore", message=r"vert: bool was deprecated", category=DeprecationWarning)
        sns.boxplot(**common, showfliers=False, width=0.7, **({} if hue else {"color": "lightsteelblue"}))
    # Dark edges keep the points visible on boxes of their own colour.
    sns.stripplot(**common, dodge=bool(hue), size=3, alpha=0.7, legend=False, linewidth=0.5,
                  edgecolor="0.15", **({} if hue else {"color": "black"}))
    ax.set_xlabel("Radial error (mm)")
    ax.set_ylabel("Landmark")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Radial error per landmark ({len(table)} evaluated)")
    if hue:
        ax.legend(title="Method", loc="best")
    save_figure(figure, path)


def step_curve(values: np.ndarray, d_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative percentage steps from (0, 0) to the largest finite value, then flat to ``d_max``.

    NaN values (missed landmarks) count in the denominator but never succeed, so the curve ends below
    100 % and meets the SDR (missed = failure) at every threshold.
    """
    values = np.asarray(values, dtype=np.float64)
    total = values.size
    found = np.sort(values[np.isfinite(values)])
    percent = 100.0 * np.arange(1, found.size + 1) / total
    end = 100.0 * found.size / total
    return np.concatenate([[0.0], found, [d_max]]), np.concatenate([[0.0], percent, [end]])


def plot_cumulative_errors(
    errors: pd.DataFrame,
    path: FigurePaths,
    *,
    sdr_thresholds_mm: Sequence[float] = DEFAULT_SDR_THRESHOLDS_MM,
    extra_curves: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Percentage of reference landmarks predicted within d mm, against d (missed ones never are, as in
    the SDR columns); SDR thresholds dotted.

    ``extra_curves`` adds dashed curves on the same axes, e.g. ``{"inter-rater: ...": distances_mm}``
    (empty arrays are skipped). ``path``: one .png/.svg path or several.
    """
    thresholds = check_thresholds(sdr_thresholds_mm)
    table = _evaluated(errors)
    extra = {label: np.asarray(v, dtype=np.float64) for label, v in (extra_curves or {}).items()}
    extra = {label: v[np.isfinite(v)] for label, v in extra.items()}
    extra = {label: v for label, v in extra.items() if v.size}
    figure = new_figure(path, width=7.0, height=4.5)
    ax = figure.add_subplot()
    largest = [float(table["error_mm"].max()), *(float(v.max()) for v in extra.values())]
    d_max = max(*largest, max(thresholds, default=0.0)) * 1.05
    scored = errors[errors["ref_present"].astype(bool)]
    for method, group in scored.groupby("method", sort=False):
        values = group["error_mm"].to_numpy(dtype=np.float64)
        missed = int(np.isnan(values).sum())
        x, y = step_curve(values, d_max)
        ax.step(x, y, where="post", label=f"{method} (n = {values.size}, {missed} missed)")
    for i, (label, values) in enumerate(extra.items()):
        x, y = step_curve(values, d_max)
        ax.step(x, y, where="post", linestyle="--", color="black" if i == 0 else None, linewidth=1.5,
                label=f"{label} (n = {values.size})")
    for i, t in enumerate(thresholds):
        ax.axvline(t, color="grey", linestyle=":", linewidth=1,
                   label="SDR thresholds" if i == 0 else None)
    ax.set_xlim(0, d_max)
    ax.set_ylim(0, 101)
    ax.set_xlabel("Radial error threshold d (mm)")
    ax.set_ylabel("Reference landmarks within d, missed = fail (%)")
    ax.set_title("Cumulative radial error")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    save_figure(figure, path)
