"""Heatmap decoding: per-channel peak, sub-voxel refinement and a confidence, one channel at a time."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Activation = Literal["softmax", "sigmoid"]


def log_heatmap(channel: torch.Tensor, *, activation: Activation) -> torch.Tensor:
    """Log of the heatmap a raw output channel stands for (up to a constant for softmax)."""
    x = channel.float()
    if activation == "softmax":
        return x
    if activation == "sigmoid":
        return -F.softplus(-x)
    raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}")


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


def peak_confidence(
    log_values: torch.Tensor, peak: tuple[int, ...], *, activation: Activation, radius: int = 2
) -> float:
    """Confidence in [0, 1]: the peak's sigmoid, or the softmax mass within ``radius`` voxels of the peak."""
    if activation == "sigmoid":
        return float(torch.exp(log_values[peak]))
    lse = torch.logsumexp(log_values.flatten(), dim=0)
    window = tuple(slice(max(0, p - radius), p + radius + 1) for p in peak)
    return float(torch.exp(log_values[window] - lse).sum().clamp(max=1.0))


def decode_channel(channel: torch.Tensor, *, activation: Activation) -> tuple[np.ndarray, float]:
    """Sub-voxel peak (array axis order) and confidence of one (Z, Y, X) output channel."""
    log_values = log_heatmap(channel, activation=activation)
    flat = int(torch.argmax(log_values))
    peak = tuple(int(i) for i in np.unravel_index(flat, tuple(log_values.shape)))
    return refine_peak(log_values, peak), peak_confidence(log_values, peak, activation=activation)


def decode_heatmaps(
    logits: torch.Tensor, *, activation: Activation, first_channel: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every landmark channel of (C, Z, Y, X) logits; channel 0 is the unused background head.

    Returns (K, 3) sub-voxel positions in array order and (K,) confidences. Channels are converted to
    float32 one at a time, so memory stays at one channel beyond the logits themselves.
    """
    if logits.ndim != 4:
        raise ValueError(f"expected (C, Z, Y, X) logits, got shape {tuple(logits.shape)}")
    positions, confidences = [], []
    for c in range(first_channel, logits.shape[0]):
        position, confidence = decode_channel(logits[c], activation=activation)
        positions.append(position)
        confidences.append(confidence)
    return np.asarray(positions, dtype=np.float64).reshape(-1, 3), np.asarray(confidences, dtype=np.float64)
