"""Preprocessed-grid positions map back through nnU-Net's resampling, cropping and transposition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nnunetv2.preprocessing.resampling.default_resampling import resample_data_or_seg_to_shape

from nnlandmark.inference.coordinates import preprocessed_to_itk_index, preprocessed_to_world, world_to_preprocessed
from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.landmarks import ImageGeometry
from nnlandmark.training.targets import render_gaussian


# nnU-Net properties of a cropped image with a rotated direction (array axes as the preprocessed case's)
CROPPED_OBLIQUE = {
    "shape_after_cropping_and_before_resampling": (10, 20, 30),
    "bbox_used_for_cropping": [[3, 13], [1, 21], [2, 32]],
    "shape_before_cropping": (14, 22, 35),
    "sitk_stuff": {"spacing": (0.5, 1.5, 2.5), "origin": (10.0, -4.0, 3.0),
                   "direction": (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)},
}


@pytest.mark.parametrize("old_spacing", [(2.0, 1.0, 1.0), (4.0, 1.0, 1.0)])  # the second resamples z separately
def test_mapping_matches_nnunet_resampling(old_spacing: tuple[float, float, float]) -> None:
    """A Gaussian resampled by nnU-Net's own function decodes to where our mapping says it came from."""
    old_shape, new_shape = (30, 40, 36), (45, 52, 30)
    centre = torch.tensor([[[12.3, 21.6, 17.2]]])
    blob = render_gaussian(centre, old_shape, sigma_vox=3.0)[0].numpy()
    resampled = resample_data_or_seg_to_shape(blob, new_shape, old_spacing, (1.3, 0.77, 1.2), is_seg=False,
                                              order=3, order_z=1)
    log_blob = torch.log(torch.from_numpy(np.clip(resampled[0], 1e-8, None)))
    positions, _ = decode_heatmaps(torch.stack([log_blob, log_blob]), activation="softmax")
    properties = {"shape_after_cropping_and_before_resampling": old_shape, "bbox_used_for_cropping": [[0, 30], [0, 40], [0, 36]]}
    index = preprocessed_to_itk_index(positions, preprocessed_shape=new_shape, properties=properties,
                                      transpose_forward=(0, 1, 2))
    np.testing.assert_allclose(index[0][::-1], centre[0, 0].numpy(), atol=0.1)


def test_crop_offset_and_transpose_are_undone() -> None:
    # array axes after transpose (2, 0, 1): preprocessed axis a is original numpy axis transpose_forward[a]
    properties = CROPPED_OBLIQUE
    position = np.array([[4.0, 5.0, 6.0]])  # unresampled (same shape) -> cropped-transposed index
    index = preprocessed_to_itk_index(position, preprocessed_shape=(10, 20, 30), properties=properties,
                                      transpose_forward=(2, 0, 1))
    # transposed index + bbox start = (7, 6, 8) on axes (numpy 2, numpy 0, numpy 1) -> numpy (6, 8, 7) -> ITK (7, 8, 6)
    np.testing.assert_allclose(index, [[7.0, 8.0, 6.0]])
    world = preprocessed_to_world(position, preprocessed_shape=(10, 20, 30), properties=properties,
                                  transpose_forward=(2, 0, 1))
    expected = ImageGeometry((35, 22, 14), (0.5, 1.5, 2.5), (10.0, -4.0, 3.0),
                             (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)).index_to_world(index)
    np.testing.assert_allclose(world, expected)
    # origin + D @ (spacing * index) by hand
    np.testing.assert_allclose(world[0], [10.0 + 1.5 * 8.0, -4.0 - 0.5 * 7.0, 3.0 + 2.5 * 6.0])


def test_world_to_preprocessed_inverts_preprocessed_to_world() -> None:
    """The guided mode's prior maps reference points onto the grid: the exact inverse, transpose and crop too."""
    properties = CROPPED_OBLIQUE
    positions = np.random.default_rng(3).uniform(0, 15, size=(6, 3))
    for transpose in ((0, 1, 2), (2, 0, 1)):
        world = preprocessed_to_world(positions, preprocessed_shape=(17, 25, 40), properties=properties,
                                      transpose_forward=transpose)
        back = world_to_preprocessed(world, preprocessed_shape=(17, 25, 40), properties=properties,
                                     transpose_forward=transpose)
        np.testing.assert_allclose(back, positions, atol=1e-9)
