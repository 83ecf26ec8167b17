"""Mean-position baseline on axis-aligned and oblique anisotropic grids; JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.evaluation.baseline import MeanPositionBaseline
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


def at(g: ImageGeometry, normalised: np.ndarray) -> np.ndarray:
    """LPS point of a normalised position on ``g``."""
    return g.index_to_world(np.asarray(normalised) * (np.asarray(g.size) - 1.0))[0]


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
    assert document["landmarks"][3] == {"name": "never", "n_present": 0, "mean_normalised": None}
    loaded = MeanPositionBaseline.from_json(path)
    assert loaded.names == baseline.names and loaded.n_cases == 3
    np.testing.assert_array_equal(loaded.n_present, baseline.n_present)
    assert loaded.predict(NEW).allclose(baseline.predict(NEW), atol=1e-9)


def test_from_json_rejects_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="expected format"):
        MeanPositionBaseline.from_json(path)


def test_unfitted_and_empty() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MeanPositionBaseline().predict(NEW)
    with pytest.raises(ValueError, match="zero training cases"):
        MeanPositionBaseline().fit([])
