"""The network of the ``ssce_null`` recipe: nnU-Net's U-Net plus a learned "not in this patch" logit per landmark.

Its output is an absolute log-probability per voxel, so the windows of nnU-Net's sliding-window predictor
agree with each other and can be averaged: for landmark k, the event space of a patch is its voxels plus
the outcome "the landmark is not in this patch" (null). Channel k >= 1 holds

    log p_k(v) = seg_k(v) - log(sum over the patch's voxels u of exp(seg_k(u)) + exp(null_k)),

so a constant added to a window's seg_k and null_k cancels (the spatial softmax's blind spot becomes a
learned per-window level), and a window that does not see a landmark says so with p_null ~ 1 instead of
holding an arbitrary peak. Channel 0 (nnU-Net's background head, never decoded) is returned as zeros.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

# Output floor in eval mode. nnU-Net's predictor accumulates Gaussian-weighted window outputs in float16 (up
# to ~27 overlapping windows x weight 10): -100 keeps that sum finite, and exp(-100) is no probability at all.
# Not in training: a floored voxel would get no gradient, and a landmark there could never be learned back.
LOG_PROB_FLOOR = -100.0


class NullOutput(NamedTuple):
    """What :class:`NullLogitNetwork` returns in training mode: the output and, exactly, log p_null (B, K)."""

    log_probs: torch.Tensor
    log_null: torch.Tensor


def log_probabilities(seg: torch.Tensor, null: torch.Tensor, *, floor: float | None = None) -> NullOutput:
    """(B, 1 + K, *spatial) log-probabilities from raw voxel logits ``seg`` and null logits ``null`` (B, K).

    Computed in float32 whatever the input dtype (under autocast the raw logits may be float16), so the
    output's precision does not depend on the raw logits' level. log p_null comes along exactly: recovered
    from the voxels' log-probabilities it would be lost below ~1e-6, and with it the gradient that teaches
    a network sure of a landmark that is not in the patch. ``floor``: clamp the voxels' values from below.
    """
    voxels = seg[:, 1:].float()
    lse = torch.logsumexp(voxels.flatten(2), dim=-1)
    normaliser = torch.logaddexp(lse, null.float())
    out = voxels - normaliser[(...,) + (None,) * (voxels.ndim - 2)]
    if floor is not None:
        out = out.clamp(min=floor)
    return NullOutput(torch.cat([torch.zeros_like(out[:, :1]), out], dim=1), null.float() - normaliser)


def null_log_probability(log_probs: torch.Tensor, *, floor: float = 1e-6) -> torch.Tensor:
    """(B, K) log p_null = log(1 - sum of the voxel probabilities) of landmark channels (B, K, *patch).

    For outputs without their exact null (the eval-mode tensor): float32 keeps p_null to about 1e-6, so it is
    held at ``floor`` below that.
    """
    lse = torch.logsumexp(log_probs.float().flatten(2), dim=-1)
    return torch.log((-torch.expm1(lse)).clamp(min=floor))


class PooledNullHead(nn.Module):
    """Null logits (B, K) from the global average of the bottleneck features (B, C, *spatial)."""

    def __init__(self, in_channels: int, num_landmarks: int, *, initial_logit: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, num_landmarks)
        # the null starts input-independent at the given level; training makes it depend on the features
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, initial_logit)

    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        return self.linear(bottleneck.flatten(2).mean(-1))


class NullLogitNetwork(nn.Module):
    """nnU-Net's U-Net (``encoder``, ``decoder``) with a null head on the bottleneck; outputs log-probabilities.

    In eval mode (nnU-Net's predictor, per-epoch validation) the output is the (B, 1 + K, *spatial) tensor;
    in training mode a :class:`NullOutput`, which nnU-Net's ``train_step`` hands to the loss as it is.
    ``encoder`` and ``decoder`` are the U-Net's own modules, so nnU-Net's trainer can switch
    ``network.decoder.deep_supervision`` and the state_dict keys are the U-Net's plus ``null_head.*``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, null_head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.null_head = null_head

    @classmethod
    def around(cls, unet: nn.Module, *, num_landmarks: int, patch_size: tuple[int, ...]) -> NullLogitNetwork:
        """Wrap a planned U-Net; the null starts at p_null ~ 1/2 (its logit ~ log of the patch's voxel count)."""
        channels = unet.encoder.output_channels[-1]
        head = PooledNullHead(channels, num_landmarks, initial_logit=math.log(math.prod(patch_size)))
        return cls(unet.encoder, unet.decoder, head)

    def raw_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The U-Net's logits (B, 1 + K, *spatial) and the null logits (B, K), before normalisation."""
        skips = self.encoder(x)
        seg = self.decoder(skips)
        if isinstance(seg, (list, tuple)):
            raise RuntimeError("NullLogitNetwork needs decoder.deep_supervision off (one output, not a list)")
        return seg, self.null_head(skips[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor | NullOutput:
        """Log-probabilities (B, 1 + K, *spatial); in training mode with the exact log p_null, for the loss."""
        if self.training:
            return log_probabilities(*self.raw_outputs(x))
        return log_probabilities(*self.raw_outputs(x), floor=LOG_PROB_FLOOR).log_probs
