"""World <-> voxel conventions on an oblique, anisotropic image, through the landmark file formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.landmarks import (
    ImageGeometry,
    LandmarkError,
    LandmarkSet,
    read_landmarks,
    read_voxel_landmarks,
    write_landmarks,
)
from nnlandmark.landmarks.mrk_json_io import SCHEMA

SIZE = (20, 15, 10)  # ITK (i, j, k); the numpy array is (10, 15, 20)
SPACING = (0.7, 1.3, 2.5)
ORIGIN = (-12.5, 30.2, 101.7)
BRIGHT = (13, 4, 6)  # ITK index (i, j, k) of the one bright voxel


def _rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Rodrigues' formula: rotation by ``degrees`` about ``axis``."""
    u = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    theta = np.radians(degrees)
    return np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * cross @ cross


DIRECTION = _rotation((1.0, 2.0, 3.0), 25.0)


@pytest.fixture
def image() -> sitk.Image:
    array = np.zeros(SIZE[::-1], dtype=np.uint8)
    i, j, k = BRIGHT
    array[k, j, i] = 255
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(tuple(DIRECTION.ravel()))
    return image


@pytest.fixture
def geometry(image: sitk.Image) -> ImageGeometry:
    return ImageGeometry.from_image(image)


def test_direction_is_oblique() -> None:
    np.testing.assert_allclose(DIRECTION @ DIRECTION.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(DIRECTION) == pytest.approx(1.0)
    assert np.abs(DIRECTION - np.eye(3)).max() > 0.3
    assert len(set(SPACING)) == 3


def test_index_to_world_matches_hand_computation(geometry: ImageGeometry) -> None:
    index = np.array([3.0, 7.0, 2.0])
    expected = np.asarray(ORIGIN) + DIRECTION @ (np.asarray(SPACING) * index)
    np.testing.assert_allclose(geometry.index_to_world(index[None])[0], expected, atol=1e-9)
    np.testing.assert_allclose(geometry.world_to_index(expected[None])[0], index, atol=1e-9)


def test_world_voxel_round_trip(geometry: ImageGeometry) -> None:
    rng = np.random.default_rng(0)
    indices = rng.uniform(-2.0, 22.0, size=(50, 3))
    back = geometry.world_to_index(geometry.index_to_world(indices))
    np.testing.assert_allclose(back, indices, atol=1e-9)


def _voxel_of(point: np.ndarray, geometry: ImageGeometry) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.rint(geometry.world_to_index(point[None])[0]))


@pytest.mark.parametrize("suffix", [".mrk.json", ".fcsv", ".json", ".csv"])
def test_point_from_file_lands_on_bright_voxel(
    tmp_path: Path, image: sitk.Image, geometry: ImageGeometry, suffix: str
) -> None:
    # A point a fraction of a voxel off the centre, mapped by SimpleITK itself, not by our code.
    world = np.array(image.TransformContinuousIndexToPhysicalPoint([b + 0.3 for b in BRIGHT]))
    path = tmp_path / f"case{suffix}"
    write_landmarks(path, LandmarkSet.from_points({"Bright": world}))
    i, j, k = _voxel_of(read_landmarks(path).point("Bright"), geometry)
    assert (i, j, k) == BRIGHT
    array = sitk.GetArrayFromImage(image)
    assert array[k, j, i] == 255 == array.max()
    assert image.GetPixel(i, j, k) == 255


def test_ras_mrk_json_lands_on_bright_voxel(
    tmp_path: Path, image: sitk.Image, geometry: ImageGeometry
) -> None:
    lps = np.array(image.TransformIndexToPhysicalPoint(BRIGHT))
    ras = [-lps[0], -lps[1], lps[2]]
    markup = {
        "type": "Fiducial",
        "coordinateSystem": "RAS",
        "controlPoints": [{"label": "B", "position": ras}],
    }
    path = tmp_path / "ras.mrk.json"
    path.write_text(json.dumps({"@schema": SCHEMA, "markups": [markup]}))
    assert _voxel_of(read_landmarks(path).point("B"), geometry) == BRIGHT


def test_geometry_survives_nifti(tmp_path: Path, image: sitk.Image, geometry: ImageGeometry) -> None:
    path = tmp_path / "image.nii.gz"
    sitk.WriteImage(image, str(path))
    from_file = ImageGeometry.from_file(path)
    world = geometry.index_to_world(np.array([BRIGHT], dtype=np.float64))
    np.testing.assert_allclose(from_file.world_to_index(world)[0], BRIGHT, atol=1e-3)


def test_read_voxel_landmarks(geometry: ImageGeometry) -> None:
    indices = np.array([[13, 4, 6], [-1, -1, -1], [np.nan, np.nan, np.nan], [2.0, -0.5, 3.0]])
    got = read_voxel_landmarks(indices, ["A", "B", "C", "D"], geometry)
    assert got.names == ("A", "B", "C", "D")
    assert got.present.tolist() == [True, False, False, False]
    expected = np.asarray(ORIGIN) + DIRECTION @ (np.asarray(SPACING) * np.array([13.0, 4.0, 6.0]))
    np.testing.assert_allclose(got.point("A"), expected, atol=1e-9)
    assert np.isnan(got.points[1:]).all()


def test_read_voxel_landmarks_checks_shape(geometry: ImageGeometry) -> None:
    with pytest.raises(
        LandmarkError, match=r"expected voxel indices of shape \(2, 3\) for 2 names, got \(3, 3\)"
    ):
        read_voxel_landmarks(np.zeros((3, 3)), ["A", "B"], geometry)
