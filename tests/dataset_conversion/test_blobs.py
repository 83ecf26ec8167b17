"""Landmark blobs: painted where the landmark is, round in mm, absent landmarks unpainted."""

from __future__ import annotations

import numpy as np
import pytest

from nnlandmark.dataset_conversion.blobs import paint_landmark_blobs
from nnlandmark.landmarks import ImageGeometry, LandmarkSet


def test_blob_centroid_is_the_landmark_on_an_oblique_grid(oblique_geometry: ImageGeometry) -> None:
    index = np.array([[10.3, 12.6, 8.2], [20.0, 7.5, 10.9]])
    world = oblique_geometry.index_to_world(index)
    landmarks = LandmarkSet(("a", "b", "c"), np.vstack([world, [np.nan] * 3]), np.array([True, True, False]))
    labels = paint_landmark_blobs(oblique_geometry, landmarks, radius_mm=5.0)
    assert labels.shape == oblique_geometry.size[::-1]
    assert set(np.unique(labels)) == {0, 1, 2}
    for label, expected in ((1, index[0]), (2, index[1])):
        k, j, i = np.nonzero(labels == label)
        centroid = np.array([i.mean(), j.mean(), k.mean()])
        np.testing.assert_allclose(centroid, expected, atol=0.5)
        # round in millimetres: the extent along each axis is about 2r / spacing voxels
        extent_mm = (np.array([np.ptp(i), np.ptp(j), np.ptp(k)]) + 1) * np.asarray(oblique_geometry.spacing)
        assert np.all(extent_mm >= 7.5) and np.all(extent_mm <= 12.6)


def test_tiny_radius_still_paints_the_nearest_voxel(oblique_geometry: ImageGeometry) -> None:
    world = oblique_geometry.index_to_world(np.array([[5.4, 6.6, 7.2]]))
    labels = paint_landmark_blobs(oblique_geometry, LandmarkSet(("a",), world, np.array([True])), radius_mm=0.1)
    assert np.argwhere(labels == 1).tolist() == [[7, 7, 5]]


def test_non_positive_radius_is_refused(oblique_geometry: ImageGeometry) -> None:
    with pytest.raises(ValueError, match="radius must be positive"):
        paint_landmark_blobs(oblique_geometry, LandmarkSet(("a",), np.zeros((1, 3)), np.array([True])), radius_mm=0)
