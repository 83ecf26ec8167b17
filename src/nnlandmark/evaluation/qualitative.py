"""Qualitative figure: three orthogonal slices through a landmark of the best, median and worst test cases.

Slices are the image's own voxel planes (no resampling), drawn in millimetres along the index axes, so the
physical aspect ratio is right also for anisotropic and oblique images. On oblique images the planes are
not exactly axial/coronal/sagittal: each view is named after the anatomical axis closest to its normal,
and oriented (superior up; anterior up in axial views; patient left on the right, anterior on the left in
sagittal views) as far as the index axes allow. Landmarks are projected onto the plane along its normal and
drawn only when within ``slab_mm`` of it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from nnlandmark.evaluation.figure_io import FigurePaths, new_figure, save_figure
from nnlandmark.landmarks.geometry import ImageGeometry
from nnlandmark.landmarks.landmark_set import LandmarkSet

logger = logging.getLogger(__name__)

_INDEX = "ijk"
_POSITIVE, _NEGATIVE = "LPS", "RAI"
_VIEW = {0: "sagittal", 1: "coronal", 2: "axial"}
# (normal axis, column axis, row axis) in ITK index order (i, j, k).
_PLANES = ((2, 0, 1), (1, 0, 2), (0, 1, 2))


@dataclass(frozen=True)
class QualitativeCase:
    """One row of the figure: a labelled case with its image, reference and predicted landmarks."""

    label: str
    case: str
    image: sitk.Image
    reference: LandmarkSet
    prediction: LandmarkSet


def select_cases(per_case_table: pd.DataFrame, *, method: str = "model") -> list[tuple[str, str]]:
    """``[(label, case)]`` for the best, median (lower middle) and worst case by ``method``'s MRE.

    ``per_case_table`` as from :func:`~nnlandmark.evaluation.summary.per_case`; cases with nothing
    detected are left out; ties go by case name. A case that is several of these appears once, with
    the labels joined (``"best = median"``).
    """
    rows = per_case_table[(per_case_table["method"] == method) & (per_case_table["n_detected"] > 0)]
    rows = rows.sort_values(["mre_mm", "case"], kind="stable").reset_index(drop=True)
    if rows.empty:
        return []
    picks = {"best": 0, "median": (len(rows) - 1) // 2, "worst": len(rows) - 1}
    labels: dict[int, list[str]] = {}
    for label, position in picks.items():
        labels.setdefault(position, []).append(label)
    return [(" = ".join(names), str(rows.loc[pos, "case"])) for pos, names in labels.items()]


def focus_landmark(reference: LandmarkSet, prediction: LandmarkSet) -> int | None:
    """Index of the landmark with the largest error; else the first present in the reference; else None."""
    pred = prediction.reorder(reference.names)
    errors = np.linalg.norm(pred.points - reference.points, axis=1)
    if np.isfinite(errors).any():
        return int(np.nanargmax(errors))
    present = np.flatnonzero(reference.present)
    return int(present[0]) if present.size else None


def _dominant(direction: np.ndarray, axis: int) -> tuple[int, int]:
    """(LPS component 0/1/2, sign) closest to index axis ``axis`` (a column of the direction matrix)."""
    column = direction[:, axis]
    component = int(np.argmax(np.abs(column)))
    return component, 1 if column[component] >= 0 else -1


def _axis_label(direction: np.ndarray, axis: int) -> str:
    component, sign = _dominant(direction, axis)
    letter = (_POSITIVE if sign > 0 else _NEGATIVE)[component]
    return f"{_INDEX[axis]} axis, towards {letter} (mm)"


def _draw_view(
    ax: Axes, array: np.ndarray, geometry: ImageGeometry, plane: tuple[int, int, int], centre: np.ndarray,
    points: dict[str, tuple[np.ndarray, np.ndarray]], focus: str | None, *, window: tuple[float, float],
    slab_mm: float,
) -> None:
    normal, col, row = plane
    direction = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
    spacing = np.asarray(geometry.spacing, dtype=np.float64)
    index = int(np.clip(round(float(centre[normal])), 0, geometry.size[normal] - 1))
    # numpy order is [k, j, i]: index axis a is array axis 2 - a. Every plane has row > col, so the
    # remaining 2D array already has the row axis first.
    image = np.take(array, index, axis=2 - normal)
    extent = (-0.5 * spacing[col], (geometry.size[col] - 0.5) * spacing[col],
              -0.5 * spacing[row], (geometry.size[row] - 0.5) * spacing[row])
    ax.imshow(image, cmap="gray", origin="lower", extent=extent, vmin=window[0], vmax=window[1],
              interpolation="nearest")
    ax.set_aspect("equal")
    label_at = None
    for name, (ref, pred) in points.items():
        size = 90 if name == focus else 30
        shown = []
        for idx, style in ((ref, {"marker": "o", "facecolors": "none", "edgecolors": "lime"}),
                           (pred, {"marker": "x", "color": "red"})):
            if np.all(np.isfinite(idx)) and abs(idx[normal] - index) * spacing[normal] <= slab_mm:
                xy = (idx[col] * spacing[col], idx[row] * spacing[row])
                ax.scatter(*xy, s=size, linewidths=1.5, zorder=3, **style)
                shown.append(xy)
        if len(shown) == 2:
            ax.plot(*zip(*shown), color="yellow", linewidth=0.8, zorder=2)
        if name == focus and shown:
            label_at = shown[0]
    row_component, row_sign = _dominant(direction, row)
    if (row_component == 1 and row_sign > 0) or (row_component != 1 and row_sign < 0):
        ax.invert_yaxis()  # anterior up for an A/P row axis, else superior (or left) up
    if _dominant(direction, col)[1] < 0:
        ax.invert_xaxis()  # left, posterior or superior to the right
    if label_at is not None:
        # Towards the middle of the panel, so the name stays on the image.
        fx, fy = ax.transAxes.inverted().transform(ax.transData.transform(label_at))
        ax.annotate(focus, label_at, xytext=(-6 if fx > 0.5 else 6, -8 if fy > 0.5 else 8),
                    textcoords="offset points", ha="right" if fx > 0.5 else "left",
                    va="top" if fy > 0.5 else "bottom", color="yellow", fontsize=7,
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    view = _VIEW[_dominant(direction, normal)[0]]
    ax.set_title(f"{view}: slice {_INDEX[normal]} = {index}", fontsize=9)
    ax.set_xlabel(_axis_label(direction, col), fontsize=8)
    ax.set_ylabel(_axis_label(direction, row), fontsize=8)
    ax.tick_params(labelsize=7)


def plot_qualitative(cases: Sequence[QualitativeCase], path: FigurePaths, *, slab_mm: float = 5.0) -> None:
    """One row per case: its three orthogonal voxel slices through the worst-localised landmark.

    Reference landmarks are green circles, predictions red crosses, joined by a yellow line; the focus
    landmark is drawn larger and named.
    """
    if not cases:
        raise ValueError("no cases to show in the qualitative figure")
    figure = new_figure(path, width=12.0, height=0.6 + 4.0 * len(cases))
    figure.set_layout_engine("constrained")
    rows = figure.subfigures(len(cases), 1, squeeze=False)[:, 0]
    for subfigure, item in zip(rows, cases):
        geometry = ImageGeometry.from_image(item.image)
        array = sitk.GetArrayViewFromImage(item.image).astype(np.float32)
        window = tuple(float(v) for v in np.percentile(array, [1.0, 99.0]))
        reference, prediction = item.reference, item.prediction.reorder(item.reference.names)
        ref_idx = geometry.world_to_index(reference.points)
        pred_idx = geometry.world_to_index(prediction.points)
        points = {n: (ref_idx[k], pred_idx[k]) for k, n in enumerate(reference.names)}
        k = focus_landmark(reference, prediction)
        if k is None:
            centre, focus, what = (np.asarray(geometry.size) - 1) / 2.0, None, "image centre (no landmark present)"
        else:
            centre = ref_idx[k] if reference.present[k] else pred_idx[k]
            focus = reference.names[k]
            error = float(np.linalg.norm(prediction.points[k] - reference.points[k]))
            what = f"{focus} (error {error:.2f} mm)" if math.isfinite(error) else f"{focus} (not evaluated)"
        errors = np.linalg.norm(prediction.points - reference.points, axis=1)
        mre = f"MRE {np.nanmean(errors):.2f} mm" if np.isfinite(errors).any() else "no landmark evaluated"
        subfigure.suptitle(f"{item.label}: {item.case}, {mre}; slices through {what}", fontsize=10)
        axes = subfigure.subplots(1, 3)
        for ax, plane in zip(axes, _PLANES):
            _draw_view(ax, array, geometry, plane, centre, points, focus, window=window, slab_mm=slab_mm)
    handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="lime", label="reference"),
               Line2D([], [], marker="x", linestyle="", color="red", label="prediction"),
               Line2D([], [], color="yellow", label=f"same landmark (within {slab_mm:g} mm of the slice)")]
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)
    save_figure(figure, path, tight=False)
