"""Left/right pairs after decoding: each landmark of a mirror pair on its own side of the patient.

A patch that shows one iliac crest, one eye or one temporal horn often cannot show which one it is, so
both channels of a pair can peak on the same twin, or each on the other's. The image header knows patient
left (+x in LPS). For each pair (found from the names and checked on the training references, see
:mod:`nnlandmark.landmarks.mirror_pairs`):

1. if both channels peak at the same place (within 2 sigma), the pair's other place is the best local
   maximum, outside that neighbourhood, of the sum of the two channels' log-heatmaps: the place both
   channels take for a twin, not a stray mode of one of them;
2. of the pair's two places, the one at larger LPS x goes to the left landmark, the other to the right one.

Each landmark's confidence is then read from its own channel at its place, so a landmark whose channel
has no mode on its side comes out with a low confidence (and absent, below the model's threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nnlandmark.inference.decode import Activation, decode_at, log_heatmap

# two channels peak "at the same place" when their peaks are closer than this many sigma
SAME_PLACE_SIGMAS = 2.0


def same_place(a: np.ndarray, b: np.ndarray, sigma: np.ndarray) -> bool:
    """Whether two channels' peaks (array positions) are closer than :data:`SAME_PLACE_SIGMAS` sigma."""
    return bool(np.linalg.norm((np.asarray(a) - np.asarray(b)) / sigma) < SAME_PLACE_SIGMAS)


def exclusion_radius(sigma: np.ndarray) -> tuple[int, ...]:
    """Half-width per axis (voxels) of the box around a shared peak where the pair's other mode is not looked for."""
    return tuple(max(2, math.ceil(SAME_PLACE_SIGMAS * float(s))) for s in sigma)


def by_side(left: int, right: int, places: Sequence[np.ndarray],
            lps_x: Callable[[np.ndarray], np.ndarray]) -> dict[int, np.ndarray]:
    """The pair's two places assigned to its landmarks: larger LPS x (patient left) to ``left``."""
    x = lps_x(np.asarray(places))
    return {left: places[0], right: places[1]} if x[0] >= x[1] else {left: places[1], right: places[0]}


def local_maxima(channel: torch.Tensor) -> torch.Tensor:
    """``channel`` (float32) where a voxel is the largest of its 3x3x3 neighbourhood, -inf elsewhere."""
    values = channel.float()
    pooled = F.max_pool3d(values[None, None], kernel_size=3, stride=1, padding=1)[0, 0]
    return torch.where(values >= pooled, values, torch.full_like(values, -math.inf))


def best_mode_outside(channel: torch.Tensor, barred: Sequence[np.ndarray],
                      radius: Sequence[int]) -> tuple[int, ...] | None:
    """Index of the largest local maximum of ``channel`` outside the boxes of ``radius`` voxels around ``barred``."""
    candidates = local_maxima(channel)
    for place in barred:
        centre = np.rint(place).astype(int)
        candidates[tuple(slice(max(0, c - r), max(0, c + r + 1)) for c, r in zip(centre, radius))] = -math.inf
    flat = int(torch.argmax(candidates))
    if not math.isfinite(float(candidates.flatten()[flat])):
        return None
    return tuple(int(i) for i in np.unravel_index(flat, tuple(channel.shape)))


def assign_pair_sides(
    logits: torch.Tensor,
    positions: np.ndarray,
    confidences: np.ndarray,
    *,
    pairs: Sequence[tuple[int, int]],
    activation: Activation,
    radius: Sequence[int],
    sigma_vox: Sequence[float],
    lps_x: Callable[[np.ndarray], np.ndarray],
    first_channel: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Positions (K, 3, array order) and confidences with every (left, right) pair put on its side.

    ``logits`` (C, Z, Y, X) are the decoded output (landmark k in channel ``first_channel + k``);
    ``lps_x`` maps (N, 3) array positions to their LPS x in mm. Returns copies and one line per pair changed.
    """
    positions, confidences = positions.copy(), confidences.copy()
    sigma = np.asarray(sigma_vox, dtype=np.float64)
    exclusion = exclusion_radius(sigma)
    changes = []
    for left, right in pairs:
        places = [positions[left].copy(), positions[right].copy()]
        note = "swapped"
        if same_place(places[0], places[1], sigma):
            shared = places[0] if confidences[left] >= confidences[right] else places[1]
            both = (log_heatmap(logits[first_channel + left], activation=activation)
                    + log_heatmap(logits[first_channel + right], activation=activation))
            other = best_mode_outside(both, [shared], exclusion)
            if other is None:
                continue
            places = [shared, np.asarray(other, dtype=np.float64)]
            note = "peaked at one place; the other is the pair's second mode"
        moved = False
        for k, place in by_side(left, right, places, lps_x).items():
            if not np.array_equal(place, positions[k]):
                positions[k], confidences[k] = decode_at(logits[first_channel + k], np.rint(place).astype(int),
                                                         activation=activation, radius=radius)
                moved = True
        if moved:
            changes.append(f"landmarks {left} and {right}: {note}")
    return positions, confidences, changes
