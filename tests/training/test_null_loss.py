"""ssce_null: KL to a Gaussian over the patch's voxels plus a "not in this patch" outcome."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.network import log_probabilities
from nnlandmark.training.losses import HeatmapLoss, HeatmapLossConfig, null_softmax_kl
from nnlandmark.training.targets import render_gaussian

SHAPE = (6, 7, 8)
SIGMA = (0.9, 1.5, 2.0)


def lattice_norm(centres: torch.Tensor, sigma: tuple[float, ...]) -> torch.Tensor:
    """Brute force: the Gaussian's sum over a grid far larger than it."""
    n = torch.arange(-200, 200, dtype=torch.float64)
    return torch.stack([torch.exp(-0.5 * ((n - centres[..., a, None].double()) / s) ** 2).sum(-1)
                        for a, s in enumerate(sigma)], -1).prod(-1)


def dense_kl(seg: torch.Tensor, null: torch.Tensor, centres: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """The definition, term by term, in float64 with exact log p_null (per channel)."""
    seg, null = seg[:, 1:].double(), null.double()
    lse = torch.logsumexp(torch.cat([seg.flatten(2), null[..., None]], -1), -1)
    log_p = seg - lse[..., None, None, None]
    log_p_null = null - lse
    t = render_gaussian(centres, SHAPE, sigma_vox=SIGMA).double() / lattice_norm(centres, SIGMA)[..., None, None, None]
    t = t * present[..., None, None, None]
    t_null = 1 - t.flatten(2).sum(-1)
    voxels = torch.xlogy(t, t).flatten(2).sum(-1) - (t * log_p).flatten(2).sum(-1)
    return voxels + torch.xlogy(t_null, t_null) - t_null * log_p_null


def kl(seg: torch.Tensor, null: torch.Tensor, centres: torch.Tensor, present: torch.Tensor,
       absent: torch.Tensor) -> torch.Tensor:
    output = log_probabilities(seg, null)
    return null_softmax_kl(output.log_probs[:, 1:], centres, present, absent, sigma_vox=SIGMA,
                           log_null=output.log_null)


def labels_with_blob(shape: tuple[int, int, int], centre: tuple[int, int, int], label: int = 1) -> torch.Tensor:
    labels = torch.zeros((1, 1, *shape))
    z, y, x = centre
    labels[0, 0, z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2] = label
    return labels


def test_separable_loss_equals_the_dense_definition() -> None:
    torch.manual_seed(0)
    seg, null = torch.randn(2, 4, *SHAPE) * 2, torch.randn(2, 3) * 3
    centres = torch.rand(2, 3, 3) * torch.tensor([5.0, 6.0, 7.0])
    centres[0, 1] = torch.tensor([0.2, 6.9, 3.0])  # much of it outside the patch
    present = torch.tensor([[True, True, False], [True, False, True]])
    absent = ~present
    dense = float(dense_kl(seg, null, centres, present).mean())
    assert float(kl(seg, null, centres, present, absent)) == pytest.approx(dense, rel=1e-5)
    # from the output tensor alone (eval mode), log p_null is only as exact as float32 keeps 1 - sum(p)
    approximate = null_softmax_kl(log_probabilities(seg, null).log_probs[:, 1:], centres, present, absent,
                                  sigma_vox=SIGMA)
    assert float(approximate) == pytest.approx(dense, rel=0.05)


def test_a_perfect_output_has_zero_loss_and_any_other_more() -> None:
    centres = torch.tensor([[[2.6, 3.1, 5.7]]])
    t = render_gaussian(centres, SHAPE, sigma_vox=SIGMA).double() / lattice_norm(centres, SIGMA)
    perfect_seg = torch.cat([torch.zeros(1, 1, *SHAPE), torch.log(t).float()], 1)
    perfect_null = torch.log1p(-t.sum()).float().reshape(1, 1)
    present, absent = torch.tensor([[True]]), torch.tensor([[False]])
    best = kl(perfect_seg, perfect_null, centres, present, absent)
    assert abs(float(best)) < 1e-5
    torch.manual_seed(1)
    for _ in range(5):
        seg = perfect_seg + 0.3 * torch.randn_like(perfect_seg)
        worse = kl(seg, perfect_null + 0.3, centres, present, absent)
        assert float(worse) > 1e-3


def test_a_constant_added_to_a_channels_logits_and_null_changes_nothing() -> None:
    torch.manual_seed(2)
    seg, null = torch.randn(1, 3, *SHAPE), torch.randn(1, 2)
    centres = torch.tensor([[[2.0, 3.0, 4.0], [3.5, 3.5, 3.5]]])
    present, absent = torch.tensor([[True, False]]), torch.tensor([[False, True]])
    shift = torch.tensor([0.0, 37.0, -1000.0])[None, :, None, None, None]
    base = kl(seg, null, centres, present, absent)
    shifted = kl(seg + shift, null + shift[:, 1:, 0, 0, 0], centres, present, absent)
    assert float(shifted) == pytest.approx(float(base), rel=1e-4)  # float32 rounding of logits near 1000


def test_a_landmark_outside_the_patch_teaches_not_here() -> None:
    """No blob in the patch: the whole target is on the null outcome, and its gradient lowers every voxel."""
    labels = labels_with_blob((8, 8, 8), (4, 4, 4), label=1)  # landmark 2 is elsewhere (or absent)
    seg = torch.zeros(1, 3, 8, 8, 8, requires_grad=True)
    null = torch.zeros(1, 2, requires_grad=True)
    loss = HeatmapLoss(HeatmapLossConfig(loss="ssce_null", sigma_vox=1.0))(log_probabilities(seg, null), labels)
    loss.backward()
    assert float(seg.grad[0, 2].min()) > 0  # gradient descent lowers all of landmark 2's voxel logits
    assert float(null.grad[0, 1]) < 0  # and raises its null logit
    # with p_null = 1/513 the loss of that channel is -log p_null, averaged with landmark 1's
    alone = HeatmapLoss(HeatmapLossConfig(loss="ssce_null", sigma_vox=1.0))(
        log_probabilities(seg, null), torch.zeros_like(labels))
    assert float(alone.detach()) == pytest.approx(np.log(513), rel=1e-4)


def test_a_blob_cut_by_the_patch_border_is_left_out() -> None:
    labels = labels_with_blob((8, 8, 8), (1, 4, 4), label=1)  # touches the border: its centroid is biased
    seg = torch.randn(1, 2, 8, 8, 8, requires_grad=True)
    null = torch.zeros(1, 1, requires_grad=True)
    HeatmapLoss(HeatmapLossConfig(loss="ssce_null"))(log_probabilities(seg, null), labels).backward()
    assert float(seg.grad.abs().sum()) == 0 and float(null.grad.abs().sum()) == 0


def test_a_model_sure_of_a_landmark_that_is_not_there_is_still_corrected() -> None:
    """p_null ~ e^-86, far below what float32 keeps of 1 - sum(p): the exact log p_null keeps loss and gradient."""
    seg = torch.full((1, 2, 8, 8, 8), 40.0, requires_grad=True)
    null = torch.full((1, 1), -40.0, requires_grad=True)
    loss = HeatmapLoss(HeatmapLossConfig(loss="ssce_null"))(log_probabilities(seg, null), torch.zeros(1, 1, 8, 8, 8))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(80 + np.log(512), rel=1e-4)  # -log p_null
    assert float(seg.grad[0, 1].min()) > 0 and float(null.grad[0, 0]) == pytest.approx(-1.0)
