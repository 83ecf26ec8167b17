"""Landmark blobs: ellipsoids of target voxels, centred on their landmark, disjoint; absent ones unpainted."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nnlandmark.dataset_conversion.blobs import (
    CENTROID_TOLERANCE_VOX,
    BlobShape,
    estimate_target_spacing,
    paint_landmark_blobs,
)
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.landmarks import ImageGeometry, LandmarkSet


def centroid_error_vox(labels: np.ndarray, label: int, index: np.ndarray, scale: np.ndarray) -> float:
    """Distance (target voxels) between the voxel centroid of ``label`` and the ITK index ``index``."""
    k, j, i = np.nonzero(labels == label)
    return float(np.linalg.norm((np.array([i.mean(), j.mean(), k.mean()]) - index) * scale))


def test_blob_is_an_ellipsoid_of_target_voxels_centred_on_its_landmark(oblique_geometry: ImageGeometry) -> None:
    index = np.array([[10.3, 12.6, 8.2], [20.0, 7.5, 10.9]])
    world = oblique_geometry.index_to_world(index)
    landmarks = LandmarkSet(("a", "b", "c"), np.vstack([world, [np.nan] * 3]), np.array([True, True, False]))
    shape = BlobShape(radius_vox=2.0, target_spacing=(1.0, 1.0, 3.0))
    assert shape.semi_axes_mm == (2.0, 2.0, 6.0)
    labels = paint_landmark_blobs(oblique_geometry, landmarks, shape=shape)
    assert labels.shape == oblique_geometry.size[::-1]
    assert set(np.unique(labels)) == {0, 1, 2}
    scale = np.asarray(oblique_geometry.spacing) / np.asarray(shape.target_spacing)
    for label, centre in ((1, index[0]), (2, index[1])):
        assert centroid_error_vox(labels, label, centre, scale) <= CENTROID_TOLERANCE_VOX
        # per axis about 2 x semi-axis long in mm (+- the rim the centroid correction may touch)
        k, j, i = np.nonzero(labels == label)
        extent_mm = (np.array([np.ptp(i), np.ptp(j), np.ptp(k)]) + 1) * np.asarray(oblique_geometry.spacing)
        expected = 2 * np.asarray(shape.semi_axes_mm)
        assert np.all(np.abs(extent_mm - expected) <= 2 * np.asarray(oblique_geometry.spacing) + 1e-9)


def test_target_spacing_is_the_per_axis_median_in_each_images_axis_order() -> None:
    spacings = [(0.7, 0.7, 5.0), (0.5, 0.8, 3.0), (1.0, 0.6, 4.0), (0.7, 0.7, 6.0)]
    assert estimate_target_spacing(spacings) == pytest.approx((0.7, 0.7, 4.5))
    # the coarse axis no longer sets the blob size along the fine axes (it did: 2 x 4.5 mm balls)
    shape = BlobShape(radius_vox=2.0, target_spacing=estimate_target_spacing(spacings))
    assert shape.semi_axes_mm == pytest.approx((1.4, 1.4, 9.0))
    with pytest.raises(ValueError, match="no image spacings"):
        estimate_target_spacing([])


def test_landmark_at_the_image_border_keeps_a_centred_blob(oblique_geometry: ImageGeometry) -> None:
    index = np.array([[0.3, 12.6, 8.2], [15.0, 25.0, 17.0]])
    landmarks = LandmarkSet(("edge", "corner"), oblique_geometry.index_to_world(index), np.ones(2, bool))
    shape = BlobShape(radius_vox=2.0, target_spacing=oblique_geometry.spacing)
    labels = paint_landmark_blobs(oblique_geometry, landmarks, shape=shape)
    assert centroid_error_vox(labels, 1, index[0], np.ones(3)) <= CENTROID_TOLERANCE_VOX
    assert centroid_error_vox(labels, 2, index[1], np.ones(3)) <= CENTROID_TOLERANCE_VOX


def test_landmark_beyond_the_outermost_voxel_centres_is_pulled_in_with_a_warning(
    oblique_geometry: ImageGeometry, caplog: pytest.LogCaptureFixture
) -> None:
    index = np.array([[-0.45, 12.0, 8.0]])
    landmarks = LandmarkSet(("edge",), oblique_geometry.index_to_world(index), np.ones(1, bool))
    shape = BlobShape(radius_vox=2.0, target_spacing=(0.3, 1.3, 2.5))  # 3 target voxels per image voxel on i
    with caplog.at_level(logging.WARNING):
        labels = paint_landmark_blobs(oblique_geometry, landmarks, shape=shape, case_id="case7")
    assert "case7: edge lies 1.35 target voxels beyond the outermost voxel centres" in caplog.text
    k, j, i = np.nonzero(labels == 1)
    assert i.min() == 0 and abs(j.mean() - 12.0) < 0.1 and abs(k.mean() - 8.0) < 0.1


def test_blob_smaller_than_a_voxel_still_paints_the_nearest_voxel(oblique_geometry: ImageGeometry) -> None:
    world = oblique_geometry.index_to_world(np.array([[5.4, 6.6, 7.2]]))
    shape = BlobShape(radius_vox=0.1, target_spacing=oblique_geometry.spacing)
    labels = paint_landmark_blobs(oblique_geometry, LandmarkSet(("a",), world, np.array([True])), shape=shape)
    assert [7, 7, 5] in np.argwhere(labels == 1).tolist()
    assert centroid_error_vox(labels, 1, np.array([5.4, 6.6, 7.2]), np.ones(3)) <= 0.25


def test_non_positive_radius_or_spacing_is_refused() -> None:
    with pytest.raises(ValueError, match="radius must be positive"):
        BlobShape(radius_vox=0, target_spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="expected 3 positive target spacings"):
        BlobShape(radius_vox=2.0, target_spacing=(1.0, 0.0, 1.0))


def test_too_close_landmarks_stop_painting_naming_case_pair_and_distance(oblique_geometry: ImageGeometry
                                                                         ) -> None:
    index = np.array([[10.0, 12.0, 8.0], [11.5, 12.0, 8.0], [20.0, 12.0, 8.0]])  # a-b: 1.5 voxels, 1.35 mm
    landmarks = LandmarkSet(("a", "b", "c"), oblique_geometry.index_to_world(index), np.ones(3, bool))
    shape = BlobShape(radius_vox=2.0, target_spacing=oblique_geometry.spacing)
    expected = r"share a label layer.*case3: a and b are 1\.35 mm \(1\.50 voxels\) apart.*different layers"
    with pytest.raises(DatasetError, match=expected):
        paint_landmark_blobs(oblique_geometry, landmarks, shape=shape, case_id="case3")
    # the same pair with b absent paints
    absent_b = LandmarkSet(("a", "b", "c"), landmarks.points, np.array([True, False, True]))
    assert set(np.unique(paint_landmark_blobs(oblique_geometry, absent_b, shape=shape))) == {0, 1, 3}


def test_blob_that_cannot_be_centred_on_a_coarse_image_stops_painting(oblique_geometry: ImageGeometry
                                                                      ) -> None:
    # target voxels 3x finer than the image along i: 2.2 target voxels apart is 0.73 image voxels, so each
    # blob keeps a single layer of image voxels along i, 0.3 image voxels (0.9 target voxels) off its landmark
    index = np.array([[10.3, 12.0, 8.0], [10.3 + 2.2 / 3, 12.0, 8.0]])
    landmarks = LandmarkSet(("a", "b"), oblique_geometry.index_to_world(index), np.ones(2, bool))
    shape = BlobShape(radius_vox=2.0, target_spacing=(0.3, 1.3, 2.5))
    expected = (r"case9: the label blob of a \(nearest landmark b, 0\.66 mm away\) cannot be centred on it: "
                r"its centroid stays 0\.90 target voxels off")
    with pytest.raises(DatasetError, match=expected):
        paint_landmark_blobs(oblique_geometry, landmarks, shape=shape, case_id="case9")


def test_a_blob_near_the_border_keeps_off_the_outermost_layer(oblique_geometry: ImageGeometry) -> None:
    """A patch at the image's edge would otherwise see the blob touch its edge and drop it as cut."""
    index = np.array([[1.8, 12.6, 8.2], [15.0, 24.0, 15.6]])  # 1.8 voxels from i = 0; 1.4 from the last k
    landmarks = LandmarkSet(("near", "far"), oblique_geometry.index_to_world(index), np.ones(2, bool))
    shape = BlobShape(radius_vox=2.0, target_spacing=oblique_geometry.spacing)
    labels = paint_landmark_blobs(oblique_geometry, landmarks, shape=shape)
    k, j, i = np.nonzero(labels == 1)
    assert i.min() >= 1  # off the outermost layer
    assert centroid_error_vox(labels, 1, index[0], np.ones(3)) <= CENTROID_TOLERANCE_VOX
    assert centroid_error_vox(labels, 2, index[1], np.ones(3)) <= CENTROID_TOLERANCE_VOX
