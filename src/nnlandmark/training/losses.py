"""Heatmap losses: spatial-softmax CE with a null outcome (default), spatial-softmax CE, sigmoid MSE (the paper)
and top-k BCE (the MIDL version).

Every loss takes the network output (B, 1 + K, *spatial) — channel 0 is the unused background head that
nnU-Net's predictor expects — and the augmented blob label map, and renders its own targets on the fly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nnlandmark.inference.decode import Activation, gaussian_sigma_vox
from nnlandmark.inference.network import NullOutput, null_log_probability
from nnlandmark.training.targets import (
    blob_centroids,
    gaussian_factors,
    per_axis_sigma,
    render_edt_ball,
    render_gaussian,
)

LossName = Literal["ssce_null", "ssce", "mse", "bce_topk"]
LOSSES = ("ssce_null", "ssce", "mse", "bce_topk")
KernelName = Literal["gaussian", "edt_ball"]


@dataclass(frozen=True)
class HeatmapLossConfig:
    """What the network is trained against; see config/config.yaml for the meaning of each key."""

    loss: LossName = "ssce_null"
    kernel: KernelName = "gaussian"
    sigma_vox: float = 2.0
    sigma_mm: float | None = None
    ball_radius_vox: float = 5.0
    topk_percent: float = 20.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"train.loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if self.kernel not in ("gaussian", "edt_ball"):
            raise ValueError(f"train.kernel must be gaussian or edt_ball; got {self.kernel!r}")
        if self.loss in ("ssce", "ssce_null") and self.kernel != "gaussian":
            raise ValueError(f"train.loss {self.loss!r} needs train.kernel 'gaussian' "
                             "(a normalised Gaussian target)")
        if not 0 < self.topk_percent <= 100:
            raise ValueError(f"train.topk_percent must be in (0, 100], got {self.topk_percent}")
        if self.sigma_vox <= 0 or (self.sigma_mm is not None and self.sigma_mm <= 0):
            raise ValueError(f"train.sigma_vox and train.sigma_mm must be positive, got {self.sigma_vox} "
                             f"and {self.sigma_mm}")

    @property
    def activation(self) -> Activation:
        """How a channel's raw output becomes a heatmap at inference (and which network the recipe trains)."""
        return {"ssce_null": "log_probability", "ssce": "softmax"}.get(self.loss, "sigmoid")

    def sigma_per_axis(self, spacing: Sequence[float]) -> tuple[float, ...]:
        """Gaussian sigma per array axis, in voxels of a grid with ``spacing`` (mm)."""
        return gaussian_sigma_vox(sigma_vox=self.sigma_vox, sigma_mm=self.sigma_mm, spacing=spacing)


class HeatmapLoss(nn.Module):
    """Loss between landmark outputs and targets rendered from blob centroids on a grid of ``spacing`` (mm)."""

    def __init__(self, config: HeatmapLossConfig, *, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        self.config = config
        self.sigma = config.sigma_per_axis(spacing)

    def forward(self, output: torch.Tensor | NullOutput, labels: torch.Tensor) -> torch.Tensor:
        log_null = None
        if isinstance(output, NullOutput):  # the ssce_null network in training mode
            output, log_null = output
        logits = output[:, 1:].float()
        k = logits.shape[1]
        centroids = blob_centroids(labels, k)
        spatial = tuple(logits.shape[2:])
        if self.config.loss == "ssce_null":
            # a blob cut by the patch border has a biased centre: no lesson; no blob at all: "not in this patch"
            return null_softmax_kl(logits, centroids.centres, centroids.reliable, ~centroids.visible,
                                   sigma_vox=self.sigma, log_null=log_null)
        if self.config.loss == "ssce":
            return spatial_softmax_ce(logits, centroids.centres, centroids.reliable, sigma_vox=self.sigma)
        if self.config.kernel == "gaussian":
            target = render_gaussian(centroids.centres, spatial, sigma_vox=self.sigma)
        else:
            target = render_edt_ball(centroids.centres, spatial, radius_vox=self.config.ball_radius_vox)
        # a landmark outside the patch has an all-zero target: "not here" is a valid lesson for sigmoid losses
        target = target * centroids.visible[..., None, None, None].float()
        if self.config.loss == "mse":
            return F.mse_loss(torch.sigmoid(logits), target)
        return topk_bce(logits, target, topk_percent=self.config.topk_percent)


def lattice_mass(centres: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """(B, K, 3) sum of each axis' Gaussian profile over all integers (the whole infinite grid)."""
    masses = []
    for axis, sigma in enumerate(sigmas):
        reach = math.ceil(10 * sigma) + 1
        offsets = torch.arange(-reach, reach + 1, device=centres.device, dtype=torch.float32)
        centre = centres[..., axis : axis + 1]
        diff = torch.round(centre) + offsets - centre
        masses.append(torch.exp(-0.5 * (diff / sigma) ** 2).sum(-1))
    return torch.stack(masses, dim=-1)


def null_softmax_kl(
    log_probs: torch.Tensor, centres: torch.Tensor, present: torch.Tensor, absent: torch.Tensor, *,
    sigma_vox: float | Sequence[float], log_null: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL divergence from the target to the network's distribution over a patch's voxels plus "not in the patch".

    ``log_probs`` (B, K, *patch) are :func:`~nnlandmark.inference.network.log_probabilities` of landmark
    channels. Target, per channel: the Gaussian around ``centres`` normalised over the whole infinite grid,
    so its voxels in the patch carry their share of it and the null outcome the rest (the mass outside the
    patch); for ``absent`` channels (not in this patch, or not in the case) the null carries all of it.
    Channels neither ``present`` nor ``absent`` are left out. The Gaussian is separable, so no dense target
    is built. KL = cross-entropy - target entropy: 0 for a perfect output. ``log_null`` (B, K) is the
    network's exact log p_null; without it, it is recovered from ``log_probs`` (to about 1e-6 in p_null).
    """
    spatial = tuple(log_probs.shape[2:])
    sigmas = per_axis_sigma(sigma_vox, len(spatial))
    factors = gaussian_factors(centres, spatial, sigma_vox=sigmas)
    inside = torch.stack([f.sum(-1) for f in factors], dim=-1)  # (B, K, 3): per-axis profile mass in the patch
    total = lattice_mass(centres, sigmas)
    norm = total.prod(-1)
    in_patch = (inside.prod(-1) / norm).clamp(max=1.0)
    expected = torch.einsum("bkzyx,bkz,bky,bkx->bk", log_probs, *factors) / norm
    # sum over the patch of t log t: log t = sum over axes of log profile - log norm, contracted axis by axis
    log_factors = [-0.5 * ((torch.arange(n, device=centres.device) - centres[..., a : a + 1]) / s) ** 2
                   for a, (n, s) in enumerate(zip(spatial, sigmas))]
    weighted = torch.stack([(f * lf).sum(-1) for f, lf in zip(factors, log_factors)], dim=-1)  # (B, K, 3)
    iz, iy, ix = inside.unbind(-1)
    others = torch.stack([iy * ix, iz * ix, iz * iy], dim=-1)
    t_log_t = (weighted * others).sum(-1) / norm - in_patch * torch.log(norm)
    null_target = torch.where(present, 1.0 - in_patch, torch.ones_like(in_patch))
    if log_null is None:
        log_null = null_log_probability(log_probs)
    voxel_part = torch.where(present, t_log_t - expected, torch.zeros_like(expected))
    per_channel = voxel_part + torch.xlogy(null_target, null_target) - null_target * log_null
    weights = (present | absent).float()
    if weights.sum() == 0:
        return (log_probs * 0).sum()
    return (per_channel * weights).sum() / weights.sum()


def spatial_softmax_ce(
    logits: torch.Tensor, centres: torch.Tensor, valid: torch.Tensor, *, sigma_vox: float | Sequence[float]
) -> torch.Tensor:
    """Cross-entropy between each channel's softmax over all voxels and the normalised Gaussian target.

    CE = logsumexp(logits) - sum(t * logits) with sum(t) = 1; the Gaussian is separable, so the second
    term is one einsum with the three 1-D profiles and no dense target is ever built. Invariant to a constant
    added to a channel's logits, so windows of a sliding-window prediction are not comparable: the
    ``ssce_null`` recipe replaces it.
    """
    gz, gy, gx = gaussian_factors(centres, tuple(logits.shape[2:]), sigma_vox=sigma_vox)
    norm = gz.sum(-1) * gy.sum(-1) * gx.sum(-1)
    expected = torch.einsum("bkzyx,bkz,bky,bkx->bk", logits, gz, gy, gx) / norm.clamp(min=1e-12)
    lse = torch.logsumexp(logits.flatten(2), dim=-1)
    per_channel = lse - expected
    weights = valid.float()
    if weights.sum() == 0:
        return (logits * 0).sum()
    return (per_channel * weights).sum() / weights.sum()


def topk_bce(logits: torch.Tensor, target: torch.Tensor, *, topk_percent: float) -> torch.Tensor:
    """Binary cross-entropy averaged over the hardest ``topk_percent`` % voxels of each channel."""
    losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(2)
    k = max(1, int(round(losses.shape[-1] * topk_percent / 100.0)))
    return losses.topk(k, dim=-1, sorted=False).values.mean()
