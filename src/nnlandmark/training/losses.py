"""Heatmap losses: spatial-softmax cross-entropy, sigmoid MSE (the paper) and top-k BCE (the MIDL version).

Every loss takes the network output (B, 1 + K, *spatial) — channel 0 is the unused background head that
nnU-Net's predictor expects — and the augmented blob label map, and renders its own targets on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nnlandmark.training.targets import (
    blob_centroids,
    gaussian_factors,
    render_edt_ball,
    render_gaussian,
)

LossName = Literal["ssce", "mse", "bce_topk"]
KernelName = Literal["gaussian", "edt_ball"]


@dataclass(frozen=True)
class HeatmapLossConfig:
    """What the network is trained against; see config/config.yaml for the meaning of each key."""

    loss: LossName = "ssce"
    kernel: KernelName = "gaussian"
    sigma_vox: float = 2.0
    ball_radius_vox: float = 5.0
    topk_percent: float = 20.0

    def __post_init__(self) -> None:
        if self.loss not in ("ssce", "mse", "bce_topk"):
            raise ValueError(f"train.loss must be one of ssce, mse, bce_topk; got {self.loss!r}")
        if self.kernel not in ("gaussian", "edt_ball"):
            raise ValueError(f"train.kernel must be gaussian or edt_ball; got {self.kernel!r}")
        if self.loss == "ssce" and self.kernel != "gaussian":
            raise ValueError("train.loss 'ssce' needs train.kernel 'gaussian' (a normalised Gaussian target)")
        if not 0 < self.topk_percent <= 100:
            raise ValueError(f"train.topk_percent must be in (0, 100], got {self.topk_percent}")

    @property
    def activation(self) -> Literal["softmax", "sigmoid"]:
        """How a channel's raw output becomes a heatmap at inference."""
        return "softmax" if self.loss == "ssce" else "sigmoid"


class HeatmapLoss(nn.Module):
    """Loss between landmark logits and targets rendered from blob centroids."""

    def __init__(self, config: HeatmapLossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = output[:, 1:].float()
        k = logits.shape[1]
        centroids = blob_centroids(labels, k)
        spatial = tuple(logits.shape[2:])
        if self.config.loss == "ssce":
            return spatial_softmax_ce(logits, centroids.centres, centroids.reliable, sigma_vox=self.config.sigma_vox)
        if self.config.kernel == "gaussian":
            target = render_gaussian(centroids.centres, spatial, sigma_vox=self.config.sigma_vox)
        else:
            target = render_edt_ball(centroids.centres, spatial, radius_vox=self.config.ball_radius_vox)
        # a landmark outside the patch has an all-zero target: "not here" is a valid lesson for sigmoid losses
        target = target * centroids.visible[..., None, None, None].float()
        if self.config.loss == "mse":
            return F.mse_loss(torch.sigmoid(logits), target)
        return topk_bce(logits, target, topk_percent=self.config.topk_percent)


def spatial_softmax_ce(
    logits: torch.Tensor, centres: torch.Tensor, valid: torch.Tensor, *, sigma_vox: float
) -> torch.Tensor:
    """Cross-entropy between each channel's softmax over all voxels and the normalised Gaussian target.

    CE = logsumexp(logits) - sum(t * logits) with sum(t) = 1; the Gaussian is separable, so the second
    term is one einsum with the three 1-D profiles and no dense target is ever built.
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
