"""Training centres from painted blobs: on the landmark for close pairs, through nnU-Net's resampling.

The trainer's training centre is ``blob_centroids`` of the label map it is given, (B, 1, Z, Y, X) in numpy
axis order; the tests feed it the painted map exactly so and compare with the landmark's continuous index.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.dataset_conversion.blobs import BlobShape, paint_landmark_blobs
from nnlandmark.landmarks import ImageGeometry, LandmarkSet
from nnlandmark.training.targets import blob_centroids
from tests.conftest import oblique_direction

TARGET = (0.7, 0.7, 2.5)  # mm, ITK axis order: slices 3.6x the in-plane spacing
DIRECTIONS = {"in-plane": (1.0, 0.0, 0.0), "through-plane": (0.0, 0.0, 1.0), "oblique": (0.6, -0.5, 0.62)}
# what nnU-Net's planner gives the seg resampling (ExperimentPlanner.determine_resampling)
SEG_RESAMPLING = {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None}


def geometry_at(spacing: tuple[float, float, float]) -> ImageGeometry:
    """An oblique image covering 28 x 28 x 45 mm at ``spacing``."""
    size = tuple(int(round(extent / s)) for extent, s in zip((28.0, 28.0, 45.0), spacing))
    return ImageGeometry(size=size, spacing=spacing, origin=(-12.0, 30.5, 7.0), direction=oblique_direction())


def pair_at(
    geometry: ImageGeometry, distance_vox: float, direction: tuple[float, ...], rng: np.random.Generator
) -> LandmarkSet:
    """Landmarks a, b ``distance_vox`` target voxels apart along ``direction`` (target-voxel axes)."""
    unit = np.asarray(direction) / np.linalg.norm(direction)
    scale = np.asarray(geometry.spacing) / np.asarray(TARGET)
    a = (np.asarray(geometry.size) - 1) / 2 - distance_vox / 2 * unit / scale + rng.uniform(-1, 1, 3)
    b = a + distance_vox * unit / scale
    return LandmarkSet(("a", "b"), geometry.index_to_world(np.stack([a, b])), np.ones(2, bool))


def training_centres(labels: np.ndarray, k: int) -> np.ndarray:
    """(K, 3) blob centroids in numpy axis order, as the trainer computes them."""
    centroids = blob_centroids(torch.from_numpy(labels.astype(np.int16))[None, None], k)
    assert bool(centroids.reliable.all()), "every blob is in the map and away from its border"
    return centroids.centres[0].numpy().astype(np.float64)


def errors_vox(geometry: ImageGeometry, landmarks: LandmarkSet, labels: np.ndarray) -> np.ndarray:
    """Per landmark: training centre to landmark, in target voxels, on the painted map."""
    truth = geometry.world_to_index(landmarks.points)[:, ::-1]
    scale = (np.asarray(geometry.spacing) / np.asarray(TARGET))[::-1]
    return np.linalg.norm((training_centres(labels, len(landmarks)) - truth) * scale, axis=1)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("distance_vox", [2.0, 3.0, 4.0, 6.0])
def test_close_pairs_keep_their_training_centres_on_an_anisotropic_oblique_grid(
    distance_vox: float, direction: str
) -> None:
    geometry = geometry_at(TARGET)
    shape = BlobShape(radius_vox=2.0, target_spacing=TARGET)
    rng = np.random.default_rng(int(distance_vox * 10) + len(direction))
    for _ in range(4):
        landmarks = pair_at(geometry, distance_vox, DIRECTIONS[direction], rng)
        labels = paint_landmark_blobs(geometry, landmarks, shape=shape)
        errors = errors_vox(geometry, landmarks, labels)
        assert errors.max() <= 0.25, f"{distance_vox} voxels {direction}: errors {errors}"


def test_a_cluster_of_landmarks_keeps_every_training_centre() -> None:
    geometry = geometry_at(TARGET)
    centre = np.asarray(geometry.size) / 2 + np.array([0.3, -0.2, 0.4])
    # target voxels (= image voxels here); every landmark 2.1-2.5 voxels from its nearest neighbours
    offsets = np.array([[0, 0, 0], [2.2, 0.4, 0], [0.3, 2.1, 0.2], [-2.0, 1.3, 0.6], [1.2, 1.0, 1.8],
                        [-0.5, -1.2, -2.0], [-1.6, -1.5, 0.4]])
    landmarks = LandmarkSet(tuple("abcdefg"), geometry.index_to_world(centre + offsets), np.ones(7, bool))
    labels = paint_landmark_blobs(geometry, landmarks, shape=BlobShape(radius_vox=2.0, target_spacing=TARGET))
    assert errors_vox(geometry, landmarks, labels).max() <= 0.25


def test_landmarks_6_mm_apart_on_5_mm_slices_stay_put() -> None:
    """The issue's case: 10 mm balls on 0.7 x 0.7 x 5 mm data moved a landmark 6 mm from another by 4.3 mm."""
    spacing = (0.7, 0.7, 5.0)
    geometry = ImageGeometry(size=(48, 48, 12), spacing=spacing, origin=(0.0, 0.0, 0.0),
                             direction=oblique_direction())
    a = np.array([23.4, 22.7, 5.3])
    b = a + np.array([6.0 / 0.7 * 0.8, 0.0, 6.0 * 0.6 / 5.0])  # 6 mm away, mostly in-plane
    landmarks = LandmarkSet(("a", "b"), geometry.index_to_world(np.stack([a, b])), np.ones(2, bool))
    assert np.linalg.norm(landmarks.points[1] - landmarks.points[0]) == pytest.approx(6.0)
    shape = BlobShape(radius_vox=2.0, target_spacing=spacing)
    labels = paint_landmark_blobs(geometry, landmarks, shape=shape)
    centres = training_centres(labels, 2)[:, ::-1]
    error_mm = np.linalg.norm(geometry.index_to_world(centres) - landmarks.points, axis=1)
    assert error_mm.max() <= 0.25 * 0.7


@pytest.mark.parametrize("spacing", [(0.5, 0.45, 2.0), (0.55, 0.9, 3.0)], ids=["finer", "mixed"])
def test_through_nnunet_resampling_the_centre_moves_by_at_most_the_target_grids_discretisation(
    spacing: tuple[float, float, float],
) -> None:
    """Painted at another spacing, a blob is drawn again on nnU-Net's target grid: exact on the painted grid,
    its centroid is off on the resampled one by what a fresh discretisation costs (measured over pairs 2-6
    voxels apart: mean 0.17-0.26, max 0.34-0.61 target voxels; README, "Landmark blobs")."""
    from nnunetv2.preprocessing.resampling.default_resampling import (
        compute_new_shape,
        resample_data_or_seg_to_shape,
    )

    geometry = geometry_at(spacing)
    shape = BlobShape(radius_vox=2.0, target_spacing=TARGET)
    rng = np.random.default_rng(7)
    painted, resampled = [], []
    for distance_vox in (2.0, 3.0, 4.0, 6.0):
        for direction in DIRECTIONS.values():
            landmarks = pair_at(geometry, distance_vox, direction, rng)
            labels = paint_landmark_blobs(geometry, landmarks, shape=shape)
            painted += list(errors_vox(geometry, landmarks, labels))
            old_spacing, new_spacing = spacing[::-1], TARGET[::-1]  # numpy axis order, as nnU-Net sees them
            new_shape = compute_new_shape(labels.shape, old_spacing, new_spacing)
            seg = resample_data_or_seg_to_shape(labels[None], new_shape, old_spacing, new_spacing,
                                                **SEG_RESAMPLING)[0]
            # nnU-Net's resampling aligns voxel areas: old index x sits at (x + 0.5) * new / old - 0.5
            old_index = geometry.world_to_index(landmarks.points)[:, ::-1]
            truth = (old_index + 0.5) * np.asarray(new_shape) / np.asarray(labels.shape) - 0.5
            resampled += list(np.linalg.norm(training_centres(seg, 2) - truth, axis=1))
    assert max(painted) <= 0.25
    assert max(resampled) <= 0.7 and np.mean(resampled) <= 0.3, f"resampled errors {np.round(resampled, 3)}"
