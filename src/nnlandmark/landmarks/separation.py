"""How close two landmarks ever come in the training references, and which may therefore share a place.

Two different landmarks are two different points of the anatomy. When the training references always keep
two landmarks well apart, a prediction that puts both on one spot has mistaken one structure for the other
(a kidney pole taken for a cone apex that looks alike in a patch): decoding parts them
(:mod:`nnlandmark.inference.shared_places`). Landmarks that the references put close together (incisor tips
that touch, a tight cluster), or that were never both present, may share a place and are left alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from nnlandmark.landmarks.landmark_set import LandmarkSet


def closest_approach_mm(references: Iterable[LandmarkSet], names: Sequence[str]) -> np.ndarray:
    """(K, K) smallest distance (mm) between landmarks ``i`` and ``j`` over the cases where both are present.

    NaN where a pair was never both present (and on the diagonal).
    """
    k = len(names)
    closest = np.full((k, k), np.inf)
    seen = np.zeros((k, k), dtype=bool)
    for reference in references:
        ordered = reference.reorder(names)
        points, present = ordered.points, ordered.present
        both = present[:, None] & present[None, :]
        with np.errstate(invalid="ignore"):
            distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        closest = np.where(both, np.minimum(closest, distance), closest)
        seen |= both
    closest[~seen] = np.nan
    np.fill_diagonal(closest, np.nan)
    return closest


def may_share_place(names: Sequence[str], closest_mm: np.ndarray, *, apart_beyond_mm: float) -> list[tuple[str, str]]:
    """Pairs of ``names`` not kept apart by the references: closest approach at most ``apart_beyond_mm``, or unknown."""
    out = []
    for i, j in itertools.combinations(range(len(names)), 2):
        d = closest_mm[i, j]
        if not np.isfinite(d) or d <= apart_beyond_mm:
            out.append((names[i], names[j]))
    return out
