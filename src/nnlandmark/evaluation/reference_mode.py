"""Is the reference annotation the raters' consensus? The config setting, auto-detection and its reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from nnlandmark.landmarks.landmark_set import LandmarkSet

AUTO = "auto"
DEFAULT_TOLERANCE_MM = 0.01


@dataclass(frozen=True)
class ReferenceMode:
    """Whether the reference is the raters' consensus, and why (for the log)."""

    is_consensus: bool
    reason: str


def rater_mean_deviation(
    reference: Mapping[str, LandmarkSet], raters: Mapping[str, Mapping[str, LandmarkSet]]
) -> tuple[float, int, str]:
    """Largest distance (mm) between a reference landmark and the mean of the raters marking it present.

    Checked on every case the reference and two or more raters annotate, for every landmark the reference
    marks present; a landmark no rater marks present counts as an infinite distance. Returns the distance
    (NaN when nothing was checked), the number of cases checked and where the largest distance occurs.
    """
    worst, where, n_cases = np.nan, "", 0
    for case, truth in reference.items():
        sets = [per_case[case].reorder(truth.names) for per_case in raters.values() if case in per_case]
        if len(sets) < 2:
            continue
        n_cases += 1
        points = np.stack([s.points for s in sets])  # NaN where a rater marks the landmark absent
        marked = np.stack([s.present for s in sets]).any(axis=0)
        mean = np.full(points.shape[1:], np.nan)
        mean[marked] = np.nanmean(points[:, marked], axis=0)
        distance = np.where(marked, np.linalg.norm(mean - truth.points, axis=1), np.inf)[truth.present]
        if distance.size and not distance.max() <= worst:  # also replaces the initial NaN
            k = int(np.argmax(distance))
            worst, where = float(distance[k]), f"{case}/{np.asarray(truth.names)[truth.present][k]}"
    return worst, n_cases, where


def resolve_reference_mode(
    setting: bool | str,
    reference: Mapping[str, LandmarkSet],
    raters: Mapping[str, Mapping[str, LandmarkSet]],
    *,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
) -> ReferenceMode:
    """The mode for config ``evaluation.reference_is_consensus`` (true, false or "auto").

    "auto" treats the reference as the consensus when, on every case with two or more raters, each
    landmark it marks present lies within ``tolerance_mm`` of the mean of the raters marking it present.
    """
    if isinstance(setting, bool):
        return ReferenceMode(setting, f"set by config evaluation.reference_is_consensus = {str(setting).lower()}")
    if setting != AUTO:
        raise ValueError(f"expected evaluation.reference_is_consensus true, false or {AUTO!r}, got {setting!r}")
    worst, n_cases, where = rater_mean_deviation(reference, raters)
    if n_cases == 0:
        return ReferenceMode(False, "auto: no test case has two or more raters besides the reference, so "
                                    "nothing shows the reference to be their mean")
    if worst <= tolerance_mm:
        return ReferenceMode(True, f"auto: on all {n_cases} case(s) with two or more raters, every reference "
                                   f"landmark lies within {tolerance_mm:g} mm of the raters' mean (largest "
                                   f"{worst:.3g} mm, at {where})")
    return ReferenceMode(False, f"auto: the reference differs from the raters' mean by up to {worst:.3g} mm "
                                f"(at {where}; tolerance {tolerance_mm:g} mm, {n_cases} case(s) with two or "
                                "more raters checked), so it is treated as an independent annotation")
