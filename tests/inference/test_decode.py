"""Heatmap decoding recovers known sub-voxel peaks and gives a usable confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.training.targets import render_gaussian


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_subvoxel_peak_recovered_within_a_tenth_of_a_voxel(sigma: float) -> None:
    rng = np.random.default_rng(1)
    centres = torch.from_numpy(rng.uniform(4, 12, size=(1, 5, 3))).float()
    heatmaps = render_gaussian(centres, (16, 18, 20), sigma_vox=sigma)[0]
    logits = torch.cat([torch.zeros(1, 16, 18, 20), torch.log(heatmaps + 1e-12)]).half()
    positions, confidence = decode_heatmaps(logits, activation="softmax")
    assert positions.shape == (5, 3)
    assert np.max(np.abs(positions - centres[0].numpy())) < 0.1
    assert np.all((confidence > 0) & (confidence <= 1))


def test_sigmoid_outputs_decode_to_the_gaussian_centre() -> None:
    centre = torch.tensor([[[6.4, 7.7, 5.2]]])
    heatmap = 0.9 * render_gaussian(centre, (14, 14, 14), sigma_vox=2.0)[0]
    logits = torch.logit(heatmap.clamp(1e-6, 1 - 1e-6))
    positions, confidence = decode_heatmaps(torch.cat([torch.zeros_like(logits), logits]), activation="sigmoid")
    np.testing.assert_allclose(positions[0], [6.4, 7.7, 5.2], atol=0.1)
    assert confidence[0] == pytest.approx(0.9 * np.exp(-0.5 * (0.4**2 + 0.3**2 + 0.2**2) / 4), rel=1e-3)


def test_flat_channel_has_low_softmax_confidence() -> None:
    sharp = torch.full((10, 10, 10), -20.0)
    sharp[5, 5, 5] = 20.0
    flat = torch.zeros(10, 10, 10)
    _, confidence = decode_heatmaps(torch.stack([flat, sharp, flat]), activation="softmax")
    assert confidence[0] > 0.99
    assert confidence[1] < 0.2
