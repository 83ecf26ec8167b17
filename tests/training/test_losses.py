"""Heatmap losses: spatial-softmax CE equals its dense definition; losses fall when the output is right."""

from __future__ import annotations

import pytest
import torch

from nnlandmark.training.losses import HeatmapLoss, HeatmapLossConfig, spatial_softmax_ce
from nnlandmark.training.targets import render_gaussian


def labels_with_blobs(shape: tuple[int, int, int], centres: list[tuple[int, int, int]]) -> torch.Tensor:
    labels = torch.zeros((1, 1, *shape))
    for label, (z, y, x) in enumerate(centres, start=1):
        labels[0, 0, z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2] = label
    return labels


def test_separable_ssce_equals_dense_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 10, 12, 14)
    centres = torch.rand(2, 3, 3) * torch.tensor([9.0, 11.0, 13.0])
    valid = torch.ones(2, 3, dtype=torch.bool)
    target = render_gaussian(centres, (10, 12, 14), sigma_vox=1.5).flatten(2)
    target = target / target.sum(-1, keepdim=True)
    dense = -(target * torch.log_softmax(logits.flatten(2), -1)).sum(-1).mean()
    assert float(spatial_softmax_ce(logits, centres, valid, sigma_vox=1.5)) == pytest.approx(float(dense), rel=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        HeatmapLossConfig(loss="ssce"),
        HeatmapLossConfig(loss="mse", sigma_vox=2.0),
        HeatmapLossConfig(loss="bce_topk", kernel="edt_ball", ball_radius_vox=4.0),
        HeatmapLossConfig(loss="bce_topk", kernel="gaussian"),
    ],
)
def test_loss_is_lower_for_output_peaking_at_the_landmarks(config: HeatmapLossConfig) -> None:
    shape = (12, 14, 16)
    centres = [(4, 5, 6), (8, 9, 11)]
    labels = labels_with_blobs(shape, centres)
    good = torch.full((1, 3, *shape), -6.0)
    bad = torch.full((1, 3, *shape), -6.0)
    for channel, (z, y, x) in enumerate(centres, start=1):
        good[0, channel, z, y, x] = 6.0
        bad[0, channel, 11 - z, 13 - y, 15 - x] = 6.0
    loss = HeatmapLoss(config)
    assert float(loss(good, labels)) < float(loss(bad, labels))


def test_ssce_ignores_landmarks_outside_the_patch() -> None:
    labels = labels_with_blobs((12, 12, 12), [(5, 5, 5)])
    output = torch.randn(1, 3, 12, 12, 12, requires_grad=True)
    HeatmapLoss(HeatmapLossConfig(loss="ssce"))(output, labels).backward()
    assert output.grad[0, 2].abs().sum() == 0  # landmark 2 has no blob in this patch
    assert output.grad[0, 1].abs().sum() > 0


def test_invalid_loss_configuration_names_the_key() -> None:
    with pytest.raises(ValueError, match="train.loss"):
        HeatmapLossConfig(loss="l2")
    with pytest.raises(ValueError, match="train.kernel 'gaussian'"):
        HeatmapLossConfig(loss="ssce", kernel="edt_ball")
