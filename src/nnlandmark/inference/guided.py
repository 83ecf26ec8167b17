"""Landmark-guided inference: network windows where the landmarks are, not over the whole image.

The full sliding window (nnU-Net's, the reference mode) evaluates every window of a half-overlapping grid:
hundreds on a CT scan, nearly all far from any landmark. An ``ssce_null`` network says per window whether
each landmark is in it (its null outcome) and where, so a search can stop once every landmark is found:

1. **Prior windows.** One window per group of landmarks whose training-set mean positions
   (:class:`~nnlandmark.inference.landmark_prior.LandmarkPrior`) fit together in a patch's central part.
2. **Search.** A landmark not found there (its probability of being in a window below ``found_above``, or its
   peak near a window edge that is not the image's border) is searched on the full mode's own window grid,
   nearest windows to its expected place first, whose trusted part reaches within 3 SD of the prior; without a prior,
   over the whole grid. Every window evaluated serves every landmark.
3. **Centring.** Each found landmark is decoded from a window centred on it (one per group that fits), so
   it sees the context it was trained with; windows at the image border stay inside the image.
4. **Mirror pairs** are put on their sides as in the full mode (:mod:`~nnlandmark.inference.pair_sides`):
   when both channels take one twin, the pair's other place is the best mode of the two channels' sum in
   any window evaluated, and each landmark is decoded at its place from a window centred there.
5. **Shared places** are parted as in the full mode (:mod:`~nnlandmark.inference.shared_places`): of two
   landmarks the training set kept apart that peak at one place, the less confident takes its own best mode
   elsewhere: in the windows evaluated, else in grid windows nearest its prior place (as for a pair's other
   mode); it is decoded from a window centred there. One that has no other mode anywhere stays.

A landmark never found comes out where its probability was highest, with that window's confidence (low,
so absent below the model's threshold). Folds are averaged per window as the full mode averages them
(log-probabilities, i.e. a geometric mean), and confidences are the geometric mean of the folds' own; the
folds' own are kept for the vote on presence, as in the full mode.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
from acvl_utils.cropping_and_padding.padding import pad_nd_image
from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

from nnlandmark.inference.decode import decode_at, fold_consensus, peak_index
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.inference.pair_sides import by_side, exclusion_radius, local_maxima, same_place
from nnlandmark.inference.shared_places import part_places

if TYPE_CHECKING:
    from nnlandmark.inference.landmark_predictor import LandmarkPredictor

INFERENCE_MODES = ("full", "guided")
# a landmark is found in a window when its probability of being in the window is at least this
FOUND_ABOVE = 0.5
# a peak is trusted when it is this fraction of the patch away from every window edge inside the image
EDGE_MARGIN = 0.25
# a window is centred on a landmark when its peak is within this fraction of the patch of the window centre
CENTRED_WITHIN = 0.125
# a local maximum is a mode of a pair's channel when its log-probability is above this (the output floor is -100)
MODE_ABOVE = -30.0
# a never-seen landmark's search box: prior mean +- this many SDs
SEARCH_SDS = 3.0


@dataclass
class WindowLandmark:
    """One landmark as one window saw it (positions in the unpadded image's array coordinates)."""

    start: tuple[int, ...]
    position: np.ndarray
    confidence: float
    present: float
    trusted: bool
    offcentre: float  # largest |peak - window centre| / patch over the axes where the window could move
    fold_confidences: tuple[float, ...] = ()  # each fold's own; ``confidence`` is their geometric mean


@dataclass
class GuidedResult:
    positions: np.ndarray
    confidences: np.ndarray
    windows: int
    evaluations: int
    notes: list[str] = field(default_factory=list)
    fold_confidences: np.ndarray | None = None  # (K, folds): each fold's own confidence at the landmark's place


class GuidedSearch:
    """The search of one preprocessed case (``data``: (C, Z, Y, X)) with a loaded :class:`LandmarkPredictor`."""

    def __init__(self, predictor: LandmarkPredictor, data: torch.Tensor, *, prior: LandmarkPrior | None,
                 lps_x: Callable[[np.ndarray], np.ndarray], found_above: float = FOUND_ABOVE) -> None:
        if predictor.activation != "log_probability":
            raise ValueError("guided inference needs a model of the ssce_null recipe (log_probability outputs); "
                             "predict this model with the full sliding window")
        self.predictor = predictor
        self.patch = tuple(int(p) for p in predictor.configuration_manager.patch_size)
        padded, revert = pad_nd_image(data, self.patch, "constant", {"value": 0}, True, None)
        self.data = padded
        self.offset = np.asarray([s.start or 0 for s in revert[1:]], dtype=np.float64)
        self.image_shape = tuple(int(s) for s in data.shape[1:])
        self.shape = tuple(int(s) for s in padded.shape[1:])
        self.k = len(predictor.names)
        self.prior = prior
        self.found_above = found_above
        self.seen: dict[tuple[int, ...], list[WindowLandmark]] = {}
        # per window, per paired or parted landmark: its channel's top local maxima (place, own value, twin's
        # value there; its own again for a landmark without a twin)
        self.modes: dict[tuple[int, ...], dict[int, list[tuple[tuple[int, ...], float, float]]]] = {}
        self.evaluations = 0
        self.lps_x = lps_x
        self.twin = {a: b for pair in predictor.mirror_pairs for a, b in (pair, pair[::-1])}
        self.tracked = sorted(set(self.twin) | {k for pair in predictor.apart for k in pair})
        self.grid = window_grid(self.shape, self.patch, predictor.predictor.tile_step_size)
        self._loaded: int | None = None
        # (K, folds) each fold's own confidence at each landmark's chosen place (set by run)
        self.fold_confidences = np.zeros((self.k, 0))

    # --- windows ---------------------------------------------------------------------------------------
    def centred_start(self, point: np.ndarray) -> tuple[int, ...]:
        """Start of the window centred on ``point`` (image coordinates), kept inside the (padded) image."""
        padded = np.asarray(point, dtype=np.float64) + self.offset
        return tuple(int(np.clip(round(c - p / 2 + 0.5), 0, s - p)) for c, p, s in zip(padded, self.patch, self.shape))

    def nearest_grid_windows(self, target: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
        """Unseen windows of the full mode's grid, nearest to ``target`` (image coordinates) first, and their
        centres (image coordinates)."""
        patch = np.asarray(self.patch, dtype=np.float64)
        starts = [s for s in self.grid if s not in self.seen]
        centres = np.asarray(starts, dtype=np.float64).reshape(-1, 3) + (patch - 1) / 2 - self.offset
        order = np.argsort(np.linalg.norm((centres - target) / patch, axis=1), kind="stable")
        return [starts[i] for i in order], centres[order]

    def group_starts(self, points: dict[int, np.ndarray], *, spread: float) -> list[tuple[int, ...]]:
        """Windows covering ``points`` (landmark -> image coordinates), each group within ``spread`` x patch."""
        limit = np.asarray(self.patch, dtype=np.float64) * spread
        remaining = sorted(points, key=lambda k: tuple(points[k]))
        starts = []
        while remaining:
            first = remaining.pop(0)
            group = [points[first]]
            for k in sorted(remaining, key=lambda j: float(np.linalg.norm(points[j] - points[first]))):
                candidate = np.stack(group + [points[k]])
                if np.all(candidate.max(0) - candidate.min(0) <= limit):
                    group.append(points[k])
                    remaining.remove(k)
            box = np.stack(group)
            starts.append(self.centred_start((box.max(0) + box.min(0)) / 2))
        return list(dict.fromkeys(starts))

    # --- one window -----------------------------------------------------------------------------------
    def evaluate(self, start: tuple[int, ...], *, at: dict[int, np.ndarray] | None = None) -> list[WindowLandmark]:
        """Every landmark as the window at ``start`` sees it; ``at``: decode these landmarks at a given place."""
        if start in self.seen and not at:
            return self.seen[start]
        p = self.predictor
        window = (slice(None), *(slice(s, s + n) for s, n in zip(start, self.patch)))
        x = self.data[window][None].to(p.predictor.device)
        network = p.predictor.network.to(p.predictor.device).eval()  # as nnU-Net's predictor does
        total, confidences, presents = None, [], []
        parameters = p.predictor.list_of_parameters or [None]
        autocast = torch.autocast("cuda") if p.predictor.device.type == "cuda" else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for index, params in enumerate(parameters):
                if params is not None and self._loaded != index:
                    getattr(network, "_orig_mod", network).load_state_dict(params)
                    self._loaded = index
                out = network(x)[0, 1:].float().cpu()
                self.evaluations += 1
                presents.append(torch.exp(torch.logsumexp(out.flatten(1), dim=-1)).clamp(max=1.0).numpy())
                confidences.append(self._confidences(out, at=at, start=start))
                total = out if total is None else total.add_(out)
        mean = total / len(parameters)
        present = np.mean(presents, axis=0)
        confidence = fold_consensus(confidences)
        result = []
        for k in range(self.k):
            peak = self._place(k, at, start) if at and k in at else peak_index(mean[k])
            position, _ = decode_at(mean[k], peak, activation="log_probability", radius=p.confidence_radius)
            result.append(WindowLandmark(start, position + np.asarray(start) - self.offset, float(confidence[k]),
                                         float(present[k]), self._trusted(position, start),
                                         self._offcentre(position, start),
                                         tuple(float(c[k]) for c in confidences)))
        if not at:
            self.seen[start] = result
            self.modes[start] = {k: self._modes(mean[k], mean[self.twin.get(k, k)], start) for k in self.tracked}
        return result

    def _place(self, k: int, at: dict[int, np.ndarray], start: tuple[int, ...]) -> tuple[int, ...]:
        local = np.rint(np.asarray(at[k]) + self.offset - np.asarray(start)).astype(int)
        return tuple(int(np.clip(v, 0, n - 1)) for v, n in zip(local, self.patch))

    def _confidences(self, out: torch.Tensor, *, at: dict[int, np.ndarray] | None,
                     start: tuple[int, ...]) -> np.ndarray:
        values = []
        for k in range(self.k):
            channel = out[k]
            peak = self._place(k, at, start) if at and k in at else peak_index(channel)
            values.append(decode_at(channel, peak, activation="log_probability",
                                    radius=self.predictor.confidence_radius)[1])
        return np.asarray(values)

    def _modes(self, channel: torch.Tensor, twin: torch.Tensor, start: tuple[int, ...],
               count: int = 8) -> list[tuple[tuple[int, ...], float, float]]:
        """The channel's ``count`` largest local maxima in the window: (image voxel, value, twin channel's value)."""
        maxima = local_maxima(channel).flatten()
        values, flat = torch.topk(maxima, count)
        twin_values = twin.flatten()[flat]
        out = []
        for v, t, f in zip(values.tolist(), twin_values.tolist(), flat.tolist()):
            if math.isfinite(v):
                local = np.unravel_index(f, channel.shape)
                out.append((tuple(int(i + s - o) for i, s, o in zip(local, start, self.offset)), float(v), float(t)))
        return out

    def _inside(self, place: Sequence[int], start: tuple[int, ...]) -> bool:
        """Whether a window's local maximum at ``place`` (image voxel) is off the window's edges inside the image:
        a maximum on such an edge is the tail of a mode outside the window, not a mode."""
        for p, s, o, n, size in zip(place, start, self.offset, self.patch, self.shape):
            local = p + o - s
            if (s > 0 and local <= 0) or (s + n < size and local >= n - 1):
                return False
        return True

    def _trusted(self, position: np.ndarray, start: tuple[int, ...]) -> bool:
        for axis, (p, s, n, size) in enumerate(zip(position, start, self.patch, self.shape)):
            margin = EDGE_MARGIN * n
            if (s > 0 and p < margin) or (s + n < size and p > n - 1 - margin):
                return False
        return True

    def _offcentre(self, position: np.ndarray, start: tuple[int, ...]) -> float:
        worst = 0.0
        for p, s, n, size in zip(position, start, self.patch, self.shape):
            d = (p - (n - 1) / 2) / n
            if (d < 0 and s == 0) or (d > 0 and s + n == size):
                continue  # the window cannot move further that way
            worst = max(worst, abs(d))
        return worst

    # --- the search -----------------------------------------------------------------------------------
    def best(self, k: int, *, trusted_only: bool = True) -> WindowLandmark | None:
        """The landmark's most centred sighting among the windows where it was found (or the likeliest one)."""
        sightings = [r[k] for r in self.seen.values()]
        found = [s for s in sightings if s.trusted and s.present >= self.found_above]
        if found:
            return min(found, key=lambda s: (s.offcentre, -s.present))
        if trusted_only or not sightings:
            return None
        return max(sightings, key=lambda s: s.present)

    def run(self) -> GuidedResult:
        notes = []
        # 1. prior windows
        centres = self.prior.centres(self.image_shape) if self.prior is not None else None
        if centres is not None:
            known = {k: centres[k] for k in range(self.k) if np.all(np.isfinite(centres[k]))}
            for start in self.group_starts(known, spread=1 - 2 * EDGE_MARGIN):
                self.evaluate(start)
        # 2. search the grid for the landmarks not found yet
        for k in range(self.k):
            if self.best(k) is not None:
                continue
            for start in self._search_order(k, centres):
                self.evaluate(start)
                if self.best(k) is not None:
                    break
        # 3. centre a window on each found landmark that is not yet
        offcentre = {k: s.position for k in range(self.k) if (s := self.best(k)) is not None
                     and s.offcentre > CENTRED_WITHIN}
        for start in self.group_starts(offcentre, spread=2 * CENTRED_WITHIN):
            self.evaluate(start)
        chosen = [self.best(k) or self.best(k, trusted_only=False) for k in range(self.k)]
        positions = np.stack([c.position for c in chosen])
        confidences = np.asarray([c.confidence for c in chosen])
        self.fold_confidences = np.asarray([c.fold_confidences for c in chosen], dtype=np.float64)
        # 4. mirror pairs on their sides
        for left, right in self.predictor.mirror_pairs:
            note = self._pair(left, right, positions, confidences)
            if note:
                notes.append(note)
        # 5. landmarks kept apart in training that peak at one place
        notes += self._part_shared_places(positions, confidences)
        return GuidedResult(positions, confidences, len(self.seen), self.evaluations, notes, self.fold_confidences)

    def _search_order(self, k: int, centres: np.ndarray | None) -> list[tuple[int, ...]]:
        """Grid windows not yet seen, nearest to the landmark's expected place first, within its search box."""
        if centres is None or not np.all(np.isfinite(centres[k])):
            return self.nearest_grid_windows((np.asarray(self.image_shape) - 1) / 2)[0]
        # windows whose trusted part overlaps the box of SEARCH_SDS sd around the prior mean
        patch = np.asarray(self.patch, dtype=np.float64)
        reach = SEARCH_SDS * self.prior.spread(self.image_shape)[k] + (1 - 2 * EDGE_MARGIN) * patch / 2
        starts, window_centres = self.nearest_grid_windows(centres[k])
        return [s for s, c in zip(starts, window_centres) if np.all(np.abs(c - centres[k]) <= reach)]

    def _pair(self, left: int, right: int, positions: np.ndarray, confidences: np.ndarray) -> str | None:
        """Put one (left, right) pair on its sides; positions and confidences are updated in place."""
        sigma = np.asarray(self.predictor.sigma_vox, dtype=np.float64)
        places = [positions[left].copy(), positions[right].copy()]
        note = "swapped"
        if same_place(places[0], places[1], sigma):
            shared = places[0] if confidences[left] >= confidences[right] else places[1]
            other = self._other_place(left, right, shared, sigma)
            if other is None:
                return None
            places = [shared, other]
            note = "peaked at one place; the other is the pair's best second mode"
        assigned = by_side(left, right, places, self.lps_x)
        moved = {k: p for k, p in assigned.items() if not np.array_equal(p, positions[k])}
        if not moved:
            return None
        for k, place in moved.items():
            sighting = self.evaluate(self.centred_start(place), at={k: place})[k]
            positions[k], confidences[k] = sighting.position, sighting.confidence
            self.fold_confidences[k] = sighting.fold_confidences
        return f"landmarks {left} and {right}: {note}"

    def _other_place(self, left: int, right: int, shared: np.ndarray, sigma: np.ndarray) -> np.ndarray | None:
        """The pair's best mode away from ``shared`` (either channel's, scored by both channels' sum there).

        Looked for in the windows seen so far, then in grid windows nearest the pair's prior places first
        (or the image centre) until one shows a mode; ``None`` if no window of the grid does.
        """
        return self._walk_grid(partial(self._best_other_mode, left, right, shared, sigma),
                               near=self._expected_place((left, right), away_from=[shared], sigma=sigma))

    def _walk_grid(self, find: Callable[[], np.ndarray | None], *, near: np.ndarray) -> np.ndarray | None:
        """``find()`` in the windows seen, then after each grid window evaluated, nearest ``near`` first."""
        place = find()
        if place is not None:
            return place
        for start in self.nearest_grid_windows(near)[0]:
            self.evaluate(start)
            place = find()
            if place is not None:
                return place
        return None

    def _expected_place(self, landmarks: Sequence[int], *, away_from: Sequence[np.ndarray],
                        sigma: np.ndarray) -> np.ndarray:
        """The first of ``landmarks``' prior places not at any ``away_from`` place, else the image centre."""
        centres = self.prior.centres(self.image_shape) if self.prior is not None else None
        targets = [centres[k] for k in landmarks if centres is not None and np.all(np.isfinite(centres[k]))
                   and not any(same_place(centres[k], a, sigma) for a in away_from)]
        return targets[0] if targets else (np.asarray(self.image_shape) - 1) / 2

    def _part_shared_places(self, positions: np.ndarray, confidences: np.ndarray) -> list[str]:
        """Part the landmarks of ``predictor.apart`` that peak at one place; positions are updated in place."""
        sigma = np.asarray(self.predictor.sigma_vox, dtype=np.float64)

        def relocate(k: int, barred: list[np.ndarray]) -> tuple[np.ndarray, float] | None:
            place = self._walk_grid(partial(self._best_own_mode, k, barred, sigma),
                                    near=self._expected_place([k], away_from=barred, sigma=sigma))
            if place is None:
                return None
            sighting = self.evaluate(self.centred_start(place), at={k: place})[k]
            self.fold_confidences[k] = sighting.fold_confidences
            return sighting.position, sighting.confidence

        return part_places(positions, confidences, apart=self.predictor.apart, sigma_vox=sigma, relocate=relocate,
                           mirror_pairs=self.predictor.mirror_pairs)

    def _usable_modes(self, landmarks: Sequence[int], barred: Sequence[np.ndarray],
                      sigma: np.ndarray) -> Iterator[tuple[tuple[int, ...], float, float]]:
        """The seen windows' modes of ``landmarks`` that count: above :data:`MODE_ABOVE`, off a window edge
        inside the image (:meth:`_inside`), and outside the exclusion box of every ``barred`` place.
        Yields (image voxel, value, twin channel's value)."""
        exclusion = np.asarray(exclusion_radius(sigma))
        for start, modes in self.modes.items():
            for k in landmarks:
                for place, value, twin_value in modes.get(k, []):
                    if (value >= MODE_ABOVE and self._inside(place, start)
                            and not any(np.all(np.abs(np.asarray(place) - b) <= exclusion) for b in barred)):
                        yield place, value, twin_value

    def _best_own_mode(self, k: int, barred: Sequence[np.ndarray], sigma: np.ndarray) -> np.ndarray | None:
        """Landmark ``k``'s best mode in the windows seen, away from every ``barred`` place (None if none)."""
        best = max(self._usable_modes([k], barred, sigma), key=lambda mode: mode[1], default=None)
        return None if best is None else np.asarray(best[0], dtype=np.float64)

    def _best_other_mode(self, left: int, right: int, shared: np.ndarray, sigma: np.ndarray) -> np.ndarray | None:
        """The pair's best mode away from ``shared``, either channel's, scored by both channels' sum there."""
        best = max(self._usable_modes([left, right], [shared], sigma), key=lambda mode: mode[1] + mode[2],
                   default=None)
        return None if best is None else np.asarray(best[0], dtype=np.float64)


def window_grid(shape: Sequence[int], patch: Sequence[int], tile_step_size: float) -> list[tuple[int, ...]]:
    """Window starts of nnU-Net's sliding window on an image of ``shape`` already padded to at least ``patch``."""
    steps = compute_steps_for_sliding_window(tuple(shape), tuple(patch), tile_step_size)
    return [tuple(int(v) for v in s) for s in np.array(np.meshgrid(*steps, indexing="ij")).reshape(3, -1).T]


def full_window_count(predictor: LandmarkPredictor, shape: Sequence[int]) -> int:
    """Windows of the full sliding window on a preprocessed image of ``shape`` (padded to the patch as nnU-Net does)."""
    patch = [int(p) for p in predictor.configuration_manager.patch_size]
    padded = [max(s, p) for s, p in zip(shape, patch)]
    return len(window_grid(padded, patch, predictor.predictor.tile_step_size))

