"""Canonical storage orientation: the same voxels at the same physical places, axes closest to LPS."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.inference.sitk_input import nnunet_input
from nnlandmark.landmarks import ImageGeometry
from nnlandmark.landmarks.orientation import (
    canonical_geometry,
    canonical_image,
    canonical_nnunet_input,
    canonical_reorientation,
)
from tests.conftest import oblique_direction

SIGNED_PERMUTATIONS = [(p, s) for p in itertools.permutations(range(3)) for s in itertools.product((1, -1), repeat=3)]


def stored(canonical: sitk.Image, axes: tuple[int, ...], signs: tuple[int, ...]) -> sitk.Image:
    """``canonical`` stored with ITK axis j = canonical axis axes[j], reversed where signs[j] < 0."""
    array = sitk.GetArrayFromImage(canonical).transpose(2, 1, 0)  # ITK order
    array = array.transpose(axes)
    array = np.flip(array, axis=[j for j in range(3) if signs[j] < 0]).transpose(2, 1, 0)
    geometry = ImageGeometry.from_image(canonical)
    cosines = np.asarray(geometry.direction).reshape(3, 3)
    size = np.asarray(geometry.size)
    corner = np.zeros(3)
    for j, (a, s) in enumerate(zip(axes, signs)):
        corner[a] = size[a] - 1 if s < 0 else 0
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing([geometry.spacing[a] for a in axes])
    image.SetOrigin(tuple(geometry.index_to_world(corner[None])[0]))
    image.SetDirection(tuple(np.stack([cosines[:, a] * s for a, s in zip(axes, signs)], axis=1).ravel()))
    return image


@pytest.fixture
def canonical() -> sitk.Image:
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.normal(size=(7, 6, 5)).astype(np.float32))  # ITK size (5, 6, 7)
    image.SetSpacing((0.8, 0.9, 2.0))
    image.SetOrigin((-10.0, 4.0, 30.0))
    image.SetDirection(oblique_direction(12.0))
    return image


@pytest.mark.parametrize(("axes", "signs"), SIGNED_PERMUTATIONS)
def test_every_storage_orientation_comes_back_to_one_canonical_image(
    canonical: sitk.Image, axes: tuple[int, ...], signs: tuple[int, ...]
) -> None:
    image = stored(canonical, axes, signs)
    out = canonical_image(image)
    assert out.GetSize() == canonical.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), canonical.GetSpacing())
    np.testing.assert_allclose(out.GetOrigin(), canonical.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(out.GetDirection(), canonical.GetDirection(), atol=1e-12)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(canonical))
    # SimpleITK's own reorientation agrees where the direction is not a tie
    lps = sitk.DICOMOrient(image, "LPS")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(lps), sitk.GetArrayFromImage(canonical))
    assert canonical_geometry(ImageGeometry.from_image(image)) == ImageGeometry.from_image(out)
    # nnU-Net's reader output (array and properties) follows the same turn
    data, properties = canonical_nnunet_input(*nnunet_input([image]))
    np.testing.assert_array_equal(data[0], sitk.GetArrayFromImage(canonical))
    np.testing.assert_allclose(properties["sitk_stuff"]["origin"], canonical.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(properties["spacing"], canonical.GetSpacing()[::-1])


def test_a_canonical_image_is_left_as_it_is(canonical: sitk.Image) -> None:
    assert canonical_reorientation(canonical.GetDirection()).is_identity
    assert canonical_image(canonical) is canonical


def test_each_voxel_keeps_its_physical_place(canonical: sitk.Image) -> None:
    image = stored(canonical, (2, 0, 1), (-1, 1, -1))
    out = canonical_image(image)
    for index in [(0, 0, 0), (6, 4, 5), (1, 2, 3), (3, 0, 2)]:  # stored size (7, 5, 6)
        world = image.TransformIndexToPhysicalPoint(index)
        there = out.TransformPhysicalPointToIndex(world)
        assert out[there] == image[index]
