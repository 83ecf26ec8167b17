"""Left/right pairs after decoding: each landmark of a mirror pair on its own side of the patient.

A patch that shows one iliac crest, one eye or one temporal horn often cannot show which one it is, so
both channels of a pair can peak on the same twin, or each on the other's. The image header knows patient
left (+x in LPS). For each pair (found from the names and checked on the training references, see
:mod:`nnlandmark.landmarks.mirror_pairs`):

1. if both channels peak at the same place (within 2 sigma; never for twins that the training references put
   that close), the pair's other place is the best local
   maximum, outside that neighbourhood, of the sum of the two channels' log-heatmaps: the place both
   channels take for a twin, not a stray mode of one of them;
2. of the pair's two places, the one at larger LPS x goes to the left landmark, the other to the right one.

Each landmark's confidence is then read from its own channel at its place, so a landmark whose channel
has no mode on its side comes out with a low confidence (and absent, below the model's threshold).

Where the other pairs show the patient's midline (:func:`fit_midline`: the mid-sagittal plane through their
midpoints), a pair whose two channels peak at one place, or at two places on the same side of it, is decided
by that plane instead: the place (the more confident one) goes to the twin of its side, and the other twin
takes the pair's best mode on the other side. Comparing the two places' LPS x alone would give a twin that
is absent a stray mode further out on the present twin's side, and the present twin's place to the absent one.
Only pairs whose twins usually lie well off the midline (half their expected distance, from the landmark
prior, at least twice the side margin) are decided this way, and only by a place farther from the plane than
half that; a pair near the midline (two ends of a small midline structure) is left to the LPS x comparison,
as a few mm of error in the fitted plane would put both of its twins on one side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

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


def local_maxima_outside(channel: torch.Tensor, barred: Sequence[np.ndarray], radius: Sequence[int]) -> torch.Tensor:
    """:func:`local_maxima` of ``channel``, -inf also in the boxes of ``radius`` voxels around the ``barred`` places."""
    candidates = local_maxima(channel)
    for place in barred:
        centre = np.rint(place).astype(int)
        candidates[tuple(slice(max(0, c - r), max(0, c + r + 1)) for c, r in zip(centre, radius))] = -math.inf
    return candidates


def best_mode_outside(channel: torch.Tensor, barred: Sequence[np.ndarray],
                      radius: Sequence[int]) -> tuple[int, ...] | None:
    """Index of the largest local maximum of ``channel`` outside the boxes of ``radius`` voxels around ``barred``."""
    candidates = local_maxima_outside(channel, barred, radius)
    flat = int(torch.argmax(candidates))
    if not math.isfinite(float(candidates.flatten()[flat])):
        return None
    return tuple(int(i) for i in np.unravel_index(flat, tuple(channel.shape)))


def pair_log_heatmap(logits: torch.Tensor, pair: tuple[int, int], activation: Activation,
                     first_channel: int) -> torch.Tensor:
    """Sum of a pair's two log-heatmaps: its modes are places both channels take for a twin."""
    left, right = pair
    return (log_heatmap(logits[first_channel + left], activation=activation)
            + log_heatmap(logits[first_channel + right], activation=activation))


@dataclass(frozen=True)
class Midline:
    """The patient's mid-sagittal plane in LPS mm: ``normal`` (unit, towards patient left) and ``offset``."""

    normal: np.ndarray
    offset: float

    def side(self, points_mm: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of (N, 3) LPS points from the plane: positive on the patient's left."""
        return np.asarray(points_mm, dtype=np.float64).reshape(-1, 3) @ self.normal - self.offset


def fit_midline(points_mm: np.ndarray, pairs: Sequence[tuple[int, int]]) -> Midline | None:
    """The mid-sagittal plane of (K, 3) LPS landmark points from their mirror ``pairs`` (None if no pair is usable).

    The normal is the direction of the sum of the vectors from the right to the left twin (each oriented to
    patient left, +x, so a swapped pair counts the same; a pair far apart weighs more than a close one). The
    offset is the median of the midpoints along it, so one pair with a stray twin does not move the plane when
    there are three or more. Pairs whose twins are less than 1 mm apart are left out.
    """
    directions, midpoints = [], []
    for a, b in pairs:
        vector = np.asarray(points_mm[a], dtype=np.float64) - np.asarray(points_mm[b], dtype=np.float64)
        length = float(np.linalg.norm(vector))
        if not np.isfinite(length) or length < 1.0:
            continue
        directions.append(vector * (1.0 if vector[0] >= 0 else -1.0))  # long pairs weigh more
        midpoints.append((np.asarray(points_mm[a]) + np.asarray(points_mm[b])) / 2.0)
    if not directions:
        return None
    normal = np.mean(directions, axis=0)
    normal /= np.linalg.norm(normal)
    return Midline(normal, float(np.median(np.asarray(midpoints) @ normal)))


def best_mode_on_side(channel: torch.Tensor, barred: Sequence[np.ndarray], radius: Sequence[int], *,
                      left: bool, midline: Midline, world: Callable[[np.ndarray], np.ndarray],
                      candidates: int = 64) -> tuple[int, ...] | None:
    """Index of the largest of the ``candidates`` largest local maxima of ``channel`` that lies on the patient's
    ``left`` (else right) side of ``midline``, outside the boxes of ``radius`` voxels around ``barred``."""
    maxima = local_maxima_outside(channel, barred, radius)
    values, flat = torch.topk(maxima.flatten(), min(candidates, maxima.numel()))
    finite = [int(i) for v, i in zip(values.tolist(), flat.tolist()) if math.isfinite(v)]
    if not finite:
        return None
    voxels = np.stack(np.unravel_index(np.asarray(finite), tuple(channel.shape)), axis=-1)
    sides = midline.side(world(voxels.astype(np.float64)))
    wanted = np.flatnonzero(sides > 0 if left else sides < 0)
    return None if wanted.size == 0 else tuple(int(i) for i in voxels[wanted[0]])


def _by_midline(
    logits: torch.Tensor, pair: tuple[int, int], places: Sequence[np.ndarray], confidences: np.ndarray,
    points_mm: np.ndarray, *, at_one_place: bool, midline: Midline, margin: float, exclusion: Sequence[int],
    activation: Activation, world: Callable[[np.ndarray], np.ndarray], first_channel: int,
) -> dict[int, np.ndarray] | None:
    """The midline's places for a pair at one place, or at two on one side farther than ``margin`` (mm) from it:
    the more confident place to the twin of its side, the pair's best mode on the other side to the other twin.
    None where the midline does not decide (the pair is on its two sides, a place is within the margin, or the
    other side has no mode); the LPS x comparison then does."""
    left, right = pair
    sides = midline.side(points_mm[[left, right]])
    one_side = bool(np.all(np.abs(sides) > margin) and sides[0] * sides[1] > 0)
    keep = 0 if confidences[left] >= confidences[right] else 1
    if not (at_one_place or one_side) or abs(float(sides[keep])) <= margin:
        return None
    owner, other = (left, right) if sides[keep] > 0 else (right, left)
    mode = best_mode_on_side(pair_log_heatmap(logits, pair, activation, first_channel), [places[keep]], exclusion,
                             left=other == left, midline=midline, world=world)
    return None if mode is None else {owner: places[keep], other: np.asarray(mode, dtype=np.float64)}


def assign_pair_sides(
    logits: torch.Tensor,
    positions: np.ndarray,
    confidences: np.ndarray,
    *,
    pairs: Sequence[tuple[int, int]],
    activation: Activation,
    radius: Sequence[int],
    sigma_vox: Sequence[float],
    lps_x: Callable[[np.ndarray], np.ndarray] | None = None,
    world: Callable[[np.ndarray], np.ndarray] | None = None,
    side_margin_mm: float = 0.0,
    half_separation_mm: Sequence[float] | None = None,
    close_twins: Collection[tuple[int, int]] = (),
    first_channel: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Positions (K, 3, array order) and confidences with every (left, right) pair put on its side.

    ``logits`` (C, Z, Y, X) are the decoded output (landmark k in channel ``first_channel + k``). ``world`` maps
    (N, 3) array positions to LPS mm. With it and ``half_separation_mm`` (per pair, half the expected distance
    of its twins; 0 where unknown), the other pairs' midline decides a pair at one place or on one side when
    its half separation is at least 2 ``side_margin_mm``. ``lps_x`` (LPS x in mm of array positions), alone, is
    the LPS x comparison only. ``close_twins``: pairs whose twins the training references put within the
    same-place distance (mammillary bodies): two peaks there may be the two twins, so they are never taken
    for one place. Returns copies and one line per pair changed.
    """
    if world is None and lps_x is None:
        raise ValueError("assign_pair_sides needs world (array positions to LPS mm) or lps_x")
    x_of = lps_x if world is None else (lambda p: world(p)[:, 0])
    positions, confidences = positions.copy(), confidences.copy()
    sigma = np.asarray(sigma_vox, dtype=np.float64)
    exclusion = exclusion_radius(sigma)
    points_mm = world(positions) if world is not None else None
    changes = []
    for index, (left, right) in enumerate(pairs):
        places = [positions[left].copy(), positions[right].copy()]
        at_one_place = (left, right) not in close_twins and same_place(places[0], places[1], sigma)
        half = float(half_separation_mm[index]) if half_separation_mm is not None else 0.0
        assigned: dict[int, np.ndarray] | None = None
        if world is not None and points_mm is not None and np.isfinite(half) and half >= max(2 * side_margin_mm, 1e-9):
            midline = fit_midline(points_mm, [p for p in pairs if p != (left, right)])
            if midline is not None:
                assigned = _by_midline(logits, (left, right), places, confidences, points_mm,
                                       at_one_place=at_one_place, midline=midline,
                                       margin=max(side_margin_mm, half / 2.0), exclusion=exclusion,
                                       activation=activation, world=world, first_channel=first_channel)
                note = "peaked on one side of the midline; the other twin takes the pair's best mode on its side"
        if assigned is None:
            note = "swapped"
            if at_one_place:
                shared = places[0] if confidences[left] >= confidences[right] else places[1]
                other = best_mode_outside(pair_log_heatmap(logits, (left, right), activation, first_channel),
                                          [shared], exclusion)
                if other is None:
                    continue
                places = [shared, np.asarray(other, dtype=np.float64)]
                note = "peaked at one place; the other is the pair's second mode"
            assigned = by_side(left, right, places, x_of)
        moved = False
        for k, place in assigned.items():
            if not np.array_equal(place, positions[k]):
                positions[k], confidences[k] = decode_at(logits[first_channel + k], np.rint(place).astype(int),
                                                         activation=activation, radius=radius)
                moved = True
        if moved:
            changes.append(f"landmarks {left} and {right}: {note}")
    return positions, confidences, changes
