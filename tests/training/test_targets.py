"""Heatmap targets: blob centroids from label maps and Gaussian / EDT-ball rendering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_channel
from nnlandmark.training.targets import blob_centroids, gaussian_factors, render_edt_ball, render_gaussian


def ball_labels(shape: tuple[int, int, int], centres: dict[int, tuple[float, float, float]], radius: float) -> torch.Tensor:
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    labels = np.zeros(shape, dtype=np.int16)
    for label, centre in centres.items():
        labels[np.linalg.norm(grid - np.asarray(centre), axis=-1) <= radius] = label
    return torch.from_numpy(labels)[None, None]


def test_centroids_of_symmetric_blobs_are_their_centres() -> None:
    labels = ball_labels((20, 24, 28), {1: (6, 8, 10), 3: (13, 15, 19)}, radius=2.5)
    c = blob_centroids(labels, 3)
    assert c.centres.shape == (1, 3, 3)
    np.testing.assert_allclose(c.centres[0, 0].numpy(), [6, 8, 10], atol=1e-5)
    np.testing.assert_allclose(c.centres[0, 2].numpy(), [13, 15, 19], atol=1e-5)
    assert c.visible.tolist() == [[True, False, True]]
    assert c.reliable.tolist() == [[True, False, True]]


def test_blob_cut_by_patch_border_is_visible_but_not_reliable() -> None:
    labels = ball_labels((12, 12, 12), {1: (0.5, 6, 6), 2: (6, 6, 6)}, radius=2.5)
    labels[0, 0, 0, 0, 0] = -1  # nnU-Net's padding label is background
    c = blob_centroids(labels, 2)
    assert c.visible.tolist() == [[True, True]]
    assert c.reliable.tolist() == [[False, True]]


def test_gaussian_peak_at_subvoxel_centre_with_requested_sigma() -> None:
    centre = torch.tensor([[[7.3, 9.6, 11.45]]])
    heatmap = render_gaussian(centre, (16, 20, 24), sigma_vox=2.0)[0, 0]
    assert heatmap.max() <= 1.0
    position, _ = decode_channel(torch.log(heatmap), activation="softmax")
    np.testing.assert_allclose(position, [7.3, 9.6, 11.45], atol=1e-3)
    # sigma honoured: one sigma away along axis 0 the value is exp(-1/2) of the (continuous) peak
    profile = gaussian_factors(centre, (16, 20, 24), sigma_vox=2.0)[0][0, 0]
    assert float(profile[7]) == pytest.approx(np.exp(-0.5 * (0.3 / 2.0) ** 2), rel=1e-5)
    assert float(profile[9]) == pytest.approx(np.exp(-0.5 * (1.7 / 2.0) ** 2), rel=1e-5)


def test_edt_ball_is_a_peak_normalised_cone() -> None:
    centre = torch.tensor([[[5.0, 5.0, 5.0]]])
    ball = render_edt_ball(centre, (11, 11, 11), radius_vox=4.0)[0, 0]
    assert float(ball[5, 5, 5]) == pytest.approx(1.0)
    assert float(ball[5, 5, 7]) == pytest.approx(0.5)
    assert float(ball[5, 5, 9]) == pytest.approx(0.0)
    assert float(ball[0, 0, 0]) == 0.0


def test_centroids_are_the_voxel_means_of_each_label_in_each_sample() -> None:
    """Exact means for any blob shape (cut, hollow, scattered), the arithmetic painted blobs are centred for."""
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 6, size=(2, 9, 10, 11)).astype(np.int16)  # label 5 > K counts as background
    labels[rng.random(labels.shape) < 0.6] = 0
    c = blob_centroids(torch.from_numpy(labels), 4)  # (B, Z, Y, X) without the channel axis
    for b in range(2):
        for k in range(1, 5):
            voxels = np.argwhere(labels[b] == k)
            assert float(c.voxels[b, k - 1]) == len(voxels)
            np.testing.assert_allclose(c.centres[b, k - 1].numpy(), voxels.mean(axis=0), atol=1e-4)
