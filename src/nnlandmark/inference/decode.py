"""Heatmap decoding: per-channel peak, sub-voxel refinement and a confidence, one channel at a time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

# softmax: raw logits of a spatial softmax (legacy ``ssce``); sigmoid: per-voxel logits (``mse``, ``bce_topk``);
# log_probability: absolute log-probabilities, as the ``ssce_null`` network outputs them
Activation = Literal["softmax", "sigmoid", "log_probability"]
ACTIVATIONS = ("softmax", "sigmoid", "log_probability")

# voxels around the peak that are converted to log-heatmap values: the parabola needs 1, the softmax mass 2
CONFIDENCE_RADIUS = 2
# float32 slabs of at most this many voxels (1 MiB, cache-sized) when a whole channel is reduced (softmax)
SLAB_VOXELS = 1 << 18


def _check(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")


def gaussian_sigma_vox(
    *, sigma_vox: float, sigma_mm: float | None, spacing: Sequence[float]
) -> tuple[float, ...]:
    """The target Gaussian's sigma per array axis in voxels: ``sigma_mm / spacing`` if given, else ``sigma_vox``."""
    if sigma_mm is None:
        return (float(sigma_vox),) * len(spacing)
    return tuple(float(sigma_mm) / float(s) for s in spacing)


def recipe_sigma_vox(recipe: Mapping[str, Any], spacing: Sequence[float]) -> tuple[float, ...]:
    """:func:`gaussian_sigma_vox` of a model's recipe (the flat ``train`` layout in ``nnlandmark.json``)."""
    return gaussian_sigma_vox(sigma_vox=float(recipe.get("sigma_vox") or 2.0), sigma_mm=recipe.get("sigma_mm"),
                              spacing=spacing)


def confidence_radius(activation: Activation, sigma_vox: Sequence[float] | None) -> tuple[int, ...]:
    """Half-width per axis of the box whose probability mass is a ``log_probability`` channel's confidence.

    +-2 sigma (at least 1 voxel), so the confidence is about the same share of the Gaussian (~0.9 when
    present) on any grid. The other activations keep +-2 voxels, the window their validation used.
    """
    if activation != "log_probability" or sigma_vox is None:
        return (CONFIDENCE_RADIUS,) * 3
    return tuple(max(1, math.ceil(2.0 * s)) for s in sigma_vox)


def fold_consensus(confidences: Sequence[np.ndarray]) -> np.ndarray:
    """Geometric mean over folds of per-landmark confidences (each (K,)); a zero stays zero (the guided mode's
    ensemble confidence: its folds' windows differ, so there is no one averaged output to read)."""
    stack = np.clip(np.asarray(confidences, dtype=np.float64), 1e-300, None)
    return np.exp(np.log(stack).mean(axis=0))


class FoldAverage:
    """The folds' (C, Z, Y, X) outputs averaged as probabilities (nnU-Net's ensembling), one fold at a time.

    ``log_probability``: the log of the folds' mean probability; ``sigmoid``: the logit of their mean sigmoid;
    ``softmax``: the log of their mean spatial softmax (each fold normalised first). The running sum is one
    float32 copy of an output, so no fold needs to be kept.
    """

    def __init__(self, activation: Activation) -> None:
        _check(activation)
        self.activation = activation
        self.count = 0
        self._sum: torch.Tensor | None = None  # sum of probabilities (sigmoid) or its log (the others)

    def add(self, output: torch.Tensor) -> None:
        """Add one fold's output."""
        values = output.float()
        if self.activation == "softmax":
            values = torch.stack([v - softmax_log_normaliser(v) for v in values])
        if self.activation == "sigmoid":
            values = torch.sigmoid(values)
            self._sum = values if self._sum is None else self._sum.add_(values)
        else:
            self._sum = values if self._sum is None else torch.logaddexp(self._sum, values, out=self._sum)
        self.count += 1

    def result(self) -> torch.Tensor:
        """The averaged output (float32), in the activation the folds' outputs have."""
        if self._sum is None:
            raise ValueError("no fold output was added")
        if self.activation == "sigmoid":
            mean = (self._sum / self.count).clamp(1e-7, 1 - 1e-7)
            return torch.log(mean) - torch.log1p(-mean)
        return self._sum - math.log(self.count)


def confidences_at(output: torch.Tensor, positions: np.ndarray, *, activation: Activation,
                   radius: int | Sequence[int] = CONFIDENCE_RADIUS, first_channel: int = 1) -> np.ndarray:
    """(K,) confidence of each landmark channel of one (C, Z, Y, X) output at the voxel nearest its ``positions``
    row (array order): what a fold says at the place the ensemble reports."""
    shape = np.asarray(output.shape[1:]) - 1
    out = []
    for k, position in enumerate(np.asarray(positions, dtype=np.float64).reshape(-1, 3)):
        voxel = np.clip(np.rint(position), 0, shape).astype(int)
        out.append(decode_at(output[first_channel + k], voxel, activation=activation, radius=radius)[1])
    return np.asarray(out, dtype=np.float64)


def fold_votes(confidences: Sequence[np.ndarray], absent_below: float | np.ndarray) -> np.ndarray:
    """(K,) present flags: more than half of the folds' own confidences (each (K,)) reach ``absent_below``
    (one threshold, or (K,) per landmark).

    The threshold is chosen on single folds' validation confidences, so each fold's confidence is held against
    it (the same kind of number it was chosen on) and the folds vote by strict majority (1 of 2 or 2 of 4 is
    not enough); with one fold this is its own call.
    """
    stack = np.asarray(confidences, dtype=np.float64).reshape(len(confidences), -1)
    return (stack >= absent_below).sum(axis=0) * 2 > stack.shape[0]


def log_heatmap(channel: torch.Tensor, *, activation: Activation) -> torch.Tensor:
    """Log of the heatmap a raw output channel stands for (up to a constant for softmax)."""
    _check(activation)
    x = channel.float()
    if activation == "sigmoid":
        return -F.softplus(-x)
    return x


def peak_index(channel: torch.Tensor) -> tuple[int, ...]:
    """Index of a channel's largest raw value (the first one on ties), read in the channel's own dtype.

    Every activation's log-heatmap increases with the raw value, so this is the heatmap's peak without
    converting the channel. A maximum per leading slice, then across slices, is about twice as fast on
    float16 as one flat argmax.
    """
    rows = channel.reshape(channel.shape[0], -1)
    values, indices = rows.max(dim=1)
    row = int(torch.argmax(values))
    flat = row * rows.shape[1] + int(indices[row])
    return tuple(int(i) for i in np.unravel_index(flat, tuple(channel.shape)))


def refine_peak(log_values: torch.Tensor, peak: tuple[int, ...]) -> np.ndarray:
    """Sub-voxel peak position: a parabola through the peak and its two neighbours, per axis.

    The log of a Gaussian is a parabola, so this is exact for Gaussian heatmaps; offsets are clipped to
    half a voxel (beyond that the neighbour would have been the peak).
    """
    position = np.asarray(peak, dtype=np.float64)
    centre = float(log_values[peak])
    for axis, p in enumerate(peak):
        if p == 0 or p == log_values.shape[axis] - 1:
            continue
        lower = list(peak)
        upper = list(peak)
        lower[axis] -= 1
        upper[axis] += 1
        lo, hi = float(log_values[tuple(lower)]), float(log_values[tuple(upper)])
        curvature = lo - 2.0 * centre + hi
        if curvature < 0 and np.isfinite(curvature):
            position[axis] += float(np.clip(0.5 * (lo - hi) / curvature, -0.5, 0.5))
    return position


def softmax_log_normaliser(channel: torch.Tensor) -> torch.Tensor:
    """logsumexp over all voxels of a channel, in float32 slabs so no float32 copy of the channel is made."""
    slab = max(1, SLAB_VOXELS // max(1, channel[0].numel()))
    parts = [torch.logsumexp(part.float().flatten(), dim=0) for part in channel.split(slab)]
    return torch.logsumexp(torch.stack(parts), dim=0)


def _radius(radius: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    return (int(radius),) * ndim if isinstance(radius, (int, np.integer)) else tuple(int(r) for r in radius)


def peak_confidence(
    log_values: torch.Tensor, peak: tuple[int, ...], *, activation: Activation,
    radius: int | Sequence[int] = CONFIDENCE_RADIUS, log_normaliser: torch.Tensor | None = None,
) -> float:
    """Confidence in [0, 1]: the peak's sigmoid, or the probability mass within ``radius`` voxels of the peak.

    For softmax, ``log_normaliser`` is the channel's logsumexp when ``log_values`` is only a window around
    the peak; without it ``log_values`` must be the whole channel. A ``log_probability`` channel is already
    normalised: its mass near the peak is ~1 for a landmark that is there and ~0 when every window said null.
    """
    _check(activation)
    if activation == "sigmoid":
        return float(torch.exp(log_values[peak]))
    if activation == "log_probability":
        lse = torch.zeros(())
    else:
        lse = torch.logsumexp(log_values.flatten(), dim=0) if log_normaliser is None else log_normaliser
    window = tuple(slice(max(0, p - r), p + r + 1) for p, r in zip(peak, _radius(radius, len(peak))))
    return float(torch.exp(log_values[window] - lse).sum().clamp(max=1.0))


def decode_at(
    channel: torch.Tensor, peak: Sequence[int], *, activation: Activation,
    radius: int | Sequence[int] = CONFIDENCE_RADIUS,
) -> tuple[np.ndarray, float]:
    """Sub-voxel position (array axis order) and confidence of the mode at voxel ``peak`` of a (Z, Y, X) channel.

    Only the peak's neighbourhood (``radius`` per axis, at least 1) is converted to float32 log-heatmap
    values; the softmax normaliser is the one other pass over the channel.
    """
    _check(activation)
    peak = tuple(int(p) for p in peak)
    radii = tuple(max(1, r) for r in _radius(radius, channel.ndim))
    start = [max(0, p - r) for p, r in zip(peak, radii)]
    window = tuple(slice(s, p + r + 1) for s, p, r in zip(start, peak, radii))
    log_values = log_heatmap(channel[window], activation=activation)
    local = tuple(p - s for p, s in zip(peak, start))
    # the window reaches the channel's border exactly where the peak does, so refine_peak's border rule holds
    position = refine_peak(log_values, local) + np.asarray(start, dtype=np.float64)
    normaliser = softmax_log_normaliser(channel) if activation == "softmax" else None
    confidence = peak_confidence(log_values, local, activation=activation, radius=radii,
                                 log_normaliser=normaliser)
    return position, confidence


def decode_channel(
    channel: torch.Tensor, *, activation: Activation, radius: int | Sequence[int] = CONFIDENCE_RADIUS
) -> tuple[np.ndarray, float]:
    """Sub-voxel peak (array axis order) and confidence of one (Z, Y, X) output channel (:func:`decode_at` its peak)."""
    return decode_at(channel, peak_index(channel), activation=activation, radius=radius)


def decode_heatmaps(
    logits: torch.Tensor, *, activation: Activation, first_channel: int = 1,
    radius: int | Sequence[int] = CONFIDENCE_RADIUS,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every landmark channel of (C, Z, Y, X) logits; channel 0 is the unused background head.

    Returns (K, 3) sub-voxel positions in array order and (K,) confidences. Channels are read in their own
    dtype (float16 from nnU-Net's predictor); beyond the logits, memory stays at a few float32 slabs.
    """
    if logits.ndim != 4:
        raise ValueError(f"expected (C, Z, Y, X) logits, got shape {tuple(logits.shape)}")
    positions, confidences = [], []
    for c in range(first_channel, logits.shape[0]):
        position, confidence = decode_channel(logits[c], activation=activation, radius=radius)
        positions.append(position)
        confidences.append(confidence)
    return np.asarray(positions, dtype=np.float64).reshape(-1, 3), np.asarray(confidences, dtype=np.float64)
