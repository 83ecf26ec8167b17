"""Mean-position baseline on axis-aligned, permuted and oblique anisotropic grids; JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.evaluation.baseline import MeanPositionBaseline, lps_box
from nnlandmark.landmarks.geometry import ImageGeometry
from nnlandmark.landmarks.landmark_set import LandmarkSet


def rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Rodrigues rotation matrix about ``axis``."""
    u = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    a = np.deg2rad(degrees)
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.cos(a) * np.eye(3) + np.sin(a) * cross + (1 - np.cos(a)) * np.outer(u, u)


def geometry(size, spacing, origin, direction: np.ndarray) -> ImageGeometry:
    return ImageGeometry(
        size=tuple(size), spacing=tuple(spacing), origin=tuple(origin),
        direction=tuple(float(v) for v in np.asarray(direction).ravel()),
    )


TRAIN = [
    geometry((50, 60, 70), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)),
    geometry((64, 48, 32), (0.8, 1.2, 2.5), (-20.0, 10.0, 5.0), rotation((1, 2, 3), 30)),
    geometry((100, 90, 20), (0.5, 0.5, 3.0), (100.0, 80.0, -40.0), np.diag([-1.0, -1.0, 1.0])),
]
NEW = geometry((40, 70, 55), (0.8, 1.2, 2.5), (7.0, -3.0, 12.0), rotation((-1, 1, 0.5), 55))

FIXED = np.array([0.25, 0.5, 0.75])
VARYING = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.2, 0.9]])


def box(g: ImageGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Lower corner and upper corner of the LPS box around ``g``'s voxels, from the 8 corners by plain numpy."""
    matrix = np.asarray(g.direction).reshape(3, 3) * np.asarray(g.spacing)
    corners = np.array([[i, j, k] for i in (-0.5, g.size[0] - 0.5) for j in (-0.5, g.size[1] - 0.5)
                        for k in (-0.5, g.size[2] - 0.5)])
    world = np.asarray(g.origin) + corners @ matrix.T
    return world.min(axis=0), world.max(axis=0)


def at(g: ImageGeometry, normalised: np.ndarray) -> np.ndarray:
    """LPS point at a normalised position of ``g``'s LPS bounding box."""
    low, high = box(g)
    return low + np.asarray(normalised) * (high - low)


def training_cases() -> list[tuple[LandmarkSet, ImageGeometry]]:
    cases = []
    for n, g in enumerate(TRAIN):
        points = {
            "fixed": at(g, FIXED),
            "varying": at(g, VARYING[n]),
            "partial": at(g, VARYING[n]) if n != 1 else None,  # absent in the oblique case
            "never": None,
        }
        cases.append((LandmarkSet.from_points(points), g))
    return cases


@pytest.fixture
def baseline() -> MeanPositionBaseline:
    return MeanPositionBaseline().fit(training_cases())


def test_oblique_geometry_is_really_oblique() -> None:
    direction = np.asarray(NEW.direction).reshape(3, 3)
    assert np.abs(direction - np.eye(3)).max() > 0.3
    np.testing.assert_allclose(direction @ direction.T, np.eye(3), atol=1e-12)


def test_fixed_normalised_position_predicted_exactly(baseline: MeanPositionBaseline) -> None:
    prediction = baseline.predict(NEW)
    assert prediction.names == ("fixed", "varying", "partial", "never")
    np.testing.assert_allclose(prediction.point("fixed"), at(NEW, FIXED), atol=1e-6)
    for g in TRAIN:  # and on each training grid too
        np.testing.assert_allclose(baseline.predict(g).point("fixed"), at(g, FIXED), atol=1e-6)


def test_means_over_present_cases_only(baseline: MeanPositionBaseline) -> None:
    prediction = baseline.predict(NEW)
    np.testing.assert_allclose(prediction.point("varying"), at(NEW, VARYING.mean(axis=0)), atol=1e-6)
    np.testing.assert_allclose(prediction.point("partial"), at(NEW, VARYING[[0, 2]].mean(axis=0)), atol=1e-6)
    assert list(baseline.n_present) == [3, 3, 2, 0]
    assert baseline.n_cases == 3


def test_never_present_landmark_predicted_absent(baseline: MeanPositionBaseline) -> None:
    prediction = baseline.predict(NEW)
    assert list(prediction.present) == [True, True, True, False]
    assert prediction.point("never") is None
    assert prediction.confidence is not None and np.isnan(prediction.confidence).all()


def test_json_round_trip(baseline: MeanPositionBaseline, tmp_path: Path) -> None:
    path = tmp_path / "models" / "baseline.json"
    baseline.to_json(path)
    assert [p.name for p in path.parent.iterdir()] == ["baseline.json"]  # no temporary file left
    document = json.loads(path.read_text())
    assert document["version"] == 2 and "LPS bounding box" in document["frame"]
    assert document["landmarks"][3] == {"name": "never", "n_present": 0, "mean_in_box": None}
    loaded = MeanPositionBaseline.from_json(path)
    assert loaded.names == baseline.names and loaded.n_cases == 3
    np.testing.assert_array_equal(loaded.n_present, baseline.n_present)
    assert loaded.predict(NEW).allclose(baseline.predict(NEW), atol=1e-9)


def test_from_json_rejects_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="expected format"):
        MeanPositionBaseline.from_json(path)


def test_from_json_refuses_version_1_voxel_index_files(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "nnlandmark.MeanPositionBaseline", "version": 1, "n_cases": 1,
                                "landmarks": [{"name": "a", "n_present": 1, "mean_normalised": [0.5] * 3}]}))
    with pytest.raises(ValueError, match="expected version 2 .* got 1.*refit the baseline"):
        MeanPositionBaseline.from_json(path)


def test_lps_box_matches_plain_corners() -> None:
    for g in [*TRAIN, NEW]:
        low, extent = lps_box(g)
        want_low, want_high = box(g)
        np.testing.assert_allclose(low, want_low, atol=1e-9)
        np.testing.assert_allclose(low + extent, want_high, atol=1e-9)


def covering(low: np.ndarray, high: np.ndarray, size: tuple[int, int, int], direction: np.ndarray) -> ImageGeometry:
    """A grid with signed-permutation ``direction`` whose voxels' outer edges span exactly [low, high] in LPS."""
    direction = np.asarray(direction, dtype=np.float64)
    spacing, origin = np.zeros(3), np.zeros(3)
    for j in range(3):  # index axis j runs along world axis a, in direction sign
        a = int(np.flatnonzero(direction[:, j])[0])
        sign = direction[a, j]
        spacing[j] = (high[a] - low[a]) / size[j]
        origin[a] = low[a] + spacing[j] / 2 if sign > 0 else high[a] - spacing[j] / 2
    return geometry(size, spacing, origin, direction)


def test_same_anatomy_in_any_orientation_is_predicted_exactly() -> None:
    """Same physical box and landmarks, stored oblique, permuted with flips, and axis-aligned.

    Averaging normalised voxel indices (the version 1 baseline) fails here: in the permuted, flipped grid a
    landmark's normalised index is a permutation and mirror of the others', so their mean lies elsewhere.
    """
    oblique = geometry((40, 50, 30), (1.1, 0.9, 2.0), (5.0, -8.0, 3.0), rotation((2, -1, 1), 35))
    low, high = box(oblique)
    permuted = covering(low, high, (25, 70, 45), np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]]))
    axis_aligned = covering(low, high, (33, 41, 29), np.eye(3))
    np.testing.assert_allclose(np.concatenate(lps_box(permuted)), np.concatenate(lps_box(oblique)), atol=1e-9)
    points = {"a": low + (high - low) * [0.2, 0.7, 0.4], "b": low + (high - low) * [0.9, 0.1, 0.55]}
    anatomy = LandmarkSet.from_points(points)
    baseline = MeanPositionBaseline().fit([(anatomy, oblique), (anatomy, permuted)])
    prediction = baseline.predict(axis_aligned)
    np.testing.assert_allclose(prediction.points, anatomy.points, atol=1e-6)
    # the voxel-index average really differs: normalised indices of "a" in the two training grids
    index = [g.world_to_index(anatomy.points[:1])[0] / (np.asarray(g.size) - 1.0) for g in (oblique, permuted)]
    old = axis_aligned.index_to_world(np.mean(index, axis=0)[None] * (np.asarray(axis_aligned.size) - 1.0))[0]
    assert np.linalg.norm(old - anatomy.points[0]) > 5.0


def test_unfitted_and_empty() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MeanPositionBaseline().predict(NEW)
    with pytest.raises(ValueError, match="zero training cases"):
        MeanPositionBaseline().fit([])
