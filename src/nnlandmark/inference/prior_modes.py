"""A channel's peak checked against where its landmark usually lies: decoding with the landmark prior.

A network that sees one patch at a time can take one structure for another that looks alike in the patch
(a kidney pole for the end of an iliac crest), and its channel then peaks far from where the landmark lies in
every training image. The model's :class:`~nnlandmark.inference.landmark_prior.LandmarkPrior` says where that
is (mean and SD of its position as grid fractions). Decoding keeps a channel's top mode unless it lies more
than :data:`GATE_SDS` prior SDs from the prior mean; only then it chooses, among the channel's
:data:`CANDIDATE_MODES` largest local maxima, the one with the largest log-heatmap plus log prior (a maximum a
posteriori choice). The prior is a Student t with :data:`PRIOR_DOF` degrees of freedom around the mean, scaled
by the SDs: positions across patients have heavier tails than a Gaussian fitted to 20 cases, whose penalty
(growing with the squared distance) moved confident, correct peaks of a case with an unusual anatomy 3.3 SD
out onto look-alikes 2.5 SD out (real-size check, seed 1, fold 1). A top mode inside the gate is never
moved, so a model whose peaks are where landmarks usually are decodes exactly as without the prior (and costs
no more: the local maxima are only looked for in a channel whose top mode failed the gate). A landmark never seen in training (no prior) keeps
its top mode.

Limit: on images whose field of view differs much from the training images', a true peak can lie outside
the gate; it is still kept when its log-heatmap beats every candidate nearer the prior mean by more than the
difference of the prior's penalties (:func:`prior_penalty`: 4.2 at 3 SD, 5.5 at 4 SD, 9.3 at 8 SD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from nnlandmark.inference.decode import Activation, decode_at, log_heatmap, peak_index
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.inference.pair_sides import local_maxima

# a top mode further than this many prior SDs from the prior mean is weighed against the channel's other modes
GATE_SDS = 3.0
# how many of a channel's largest local maxima are weighed
CANDIDATE_MODES = 8
# the prior's SD is taken as at least this many voxels (few training cases can give a spread of almost 0)
MIN_SD_VOX = 1.0
# degrees of freedom of the Student t prior: heavy tails, so an unusual but confident peak is not overridden
PRIOR_DOF = 3.0


def prior_distance(index: Sequence[float], centre: np.ndarray, spread: np.ndarray) -> float:
    """Distance of ``index`` from the prior ``centre`` in prior SDs (per axis ``spread``, at least :data:`MIN_SD_VOX`)."""
    sd = np.maximum(np.asarray(spread, dtype=np.float64), MIN_SD_VOX)
    return float(np.linalg.norm((np.asarray(index, dtype=np.float64) - centre) / sd))


def prior_penalty(distance_sd: float) -> float:
    """Minus the log of the 3-D Student t prior (:data:`PRIOR_DOF`) at ``distance_sd`` SDs, 0 at the mean."""
    return (PRIOR_DOF + 3.0) / 2.0 * math.log1p(distance_sd**2 / PRIOR_DOF)


def prior_gated_peak(
    channel: torch.Tensor, *, activation: Activation, centre: np.ndarray, spread: np.ndarray,
    gate: float = GATE_SDS, candidates: int = CANDIDATE_MODES,
) -> tuple[tuple[int, ...], bool]:
    """The voxel of ``channel`` (Z, Y, X) to decode, and whether it is not the channel's top mode.

    ``centre`` and ``spread``: the landmark's prior mean and SD in voxels of this grid (NaN: no prior).
    """
    peak = peak_index(channel)
    if not np.all(np.isfinite(centre)) or prior_distance(peak, centre, spread) <= gate:
        return peak, False
    maxima = local_maxima(log_heatmap(channel, activation=activation)).flatten()
    values, flat = torch.topk(maxima, min(candidates, maxima.numel()))
    best, best_score = peak, -math.inf
    for value, index in zip(values.tolist(), flat.tolist()):
        if not math.isfinite(value):
            break
        voxel = tuple(int(i) for i in np.unravel_index(index, tuple(channel.shape)))
        score = value - prior_penalty(prior_distance(voxel, centre, spread))
        if score > best_score:
            best, best_score = voxel, score
    return best, best != peak


def decode_with_prior(
    logits: torch.Tensor, *, activation: Activation, radius: int | Sequence[int], prior: LandmarkPrior | None,
    first_channel: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode every landmark channel of (C, Z, Y, X) logits, each at its prior-gated mode (:func:`prior_gated_peak`).

    Returns (K, 3) sub-voxel positions in array order, (K,) confidences and one line per landmark that was
    not decoded at its channel's top mode. Without a ``prior`` every channel is decoded at its top mode.
    """
    if logits.ndim != 4:
        raise ValueError(f"expected (C, Z, Y, X) logits, got shape {tuple(logits.shape)}")
    shape = tuple(logits.shape[1:])
    count = logits.shape[0] - first_channel
    if prior is not None and len(prior.mean) != count:
        raise ValueError(f"the landmark prior has {len(prior.mean)} landmarks, the output {count} channels")
    centres = prior.centres(shape) if prior is not None else np.full((count, 3), np.nan)
    spreads = prior.spread(shape) if prior is not None else np.full((count, 3), np.nan)
    positions, confidences, notes = [], [], []
    for k in range(count):
        channel = logits[first_channel + k]
        voxel, moved = prior_gated_peak(channel, activation=activation, centre=centres[k], spread=spreads[k])
        position, confidence = decode_at(channel, voxel, activation=activation, radius=radius)
        if moved:
            top = prior_distance(peak_index(channel), centres[k], spreads[k])
            chosen = prior_distance(voxel, centres[k], spreads[k])
            notes.append(f"landmark {k}: top mode {top:.1f} prior SD from where it usually lies; decoded at the "
                         f"mode {chosen:.1f} SD away (confidence {confidence:.3f})")
        positions.append(position)
        confidences.append(confidence)
    return (np.asarray(positions, dtype=np.float64).reshape(-1, 3), np.asarray(confidences, dtype=np.float64),
            notes)
