"""Tests of the synthetic demo dataset: determinism, layout, geometry and structural landmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from nnlandmark.datasets.demo import (
    GENERATOR,
    MARGIN_VOXELS,
    DemoCase,
    DemoManifest,
    absent_assignment,
    generate_demo_dataset,
    render_case,
    sample_case,
    world_landmarks,
)
from nnlandmark.datasets.demo_phantom import INTENSITY, LANDMARK_NAMES
from nnlandmark.landmarks import ImageGeometry

SMALL = {"n_train": 3, "n_test": 3, "seed": 7, "shape": (40, 40, 32), "n_absent": 2, "rater_jitter_mm": 0.6}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "small", **SMALL)


@pytest.fixture(scope="module")
def full_size(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "full", n_train=2, n_test=0, n_absent=0)


def _cases(manifest: DemoManifest) -> tuple[str, ...]:
    return manifest.training_cases + manifest.test_cases


def _image(manifest: DemoManifest, case: str) -> tuple[np.ndarray, ImageGeometry]:
    image = sitk.ReadImage(str(manifest.root / "images" / f"{case}.nii.gz"))
    return sitk.GetArrayFromImage(image), ImageGeometry.from_image(image)


def _landmarks(manifest: DemoManifest, case: str, *, rater: str | None = None) -> dict:
    folder = manifest.root / "landmarks" if rater is None else manifest.root / "raters" / rater
    return json.loads((folder / f"{case}.json").read_text())


def _sample(array: np.ndarray, geometry: ImageGeometry, points: np.ndarray) -> np.ndarray:
    """Trilinear intensities at world points (N, 3)."""
    index = geometry.world_to_index(points)
    return ndimage.map_coordinates(array, index[:, ::-1].T, order=1, mode="nearest")


def _case_params(manifest: DemoManifest, case: str, settings: dict) -> DemoCase:
    index = _cases(manifest).index(case)
    absent = absent_assignment(
        seed=settings["seed"],
        n_train=settings["n_train"],
        n_test=settings["n_test"],
        n_absent=settings["n_absent"],
    )
    name = absent.get(index)
    return sample_case(
        seed=settings["seed"], index=index, shape=settings["shape"], absent=(name,) if name else ()
    )


def test_same_seed_gives_same_bytes(tmp_path: Path, small: DemoManifest) -> None:
    again = generate_demo_dataset(tmp_path / "again", **SMALL)
    files = sorted(p.relative_to(small.root) for p in small.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.root) for p in again.root.rglob("*") if p.is_file())
    for rel in files:
        assert (small.root / rel).read_bytes() == (again.root / rel).read_bytes(), rel
    for case in _cases(small):
        assert np.array_equal(_image(small, case)[0], _image(again, case)[0])
        assert _landmarks(small, case) == _landmarks(again, case)


def test_other_seed_differs(tmp_path: Path, small: DemoManifest) -> None:
    other = generate_demo_dataset(
        tmp_path / "other", **{**SMALL, "seed": 8, "n_train": 1, "n_test": 0, "n_absent": 0}
    )
    assert not np.array_equal(_image(small, "demo_000")[0], _image(other, "demo_000")[0])
    assert _landmarks(small, "demo_000") != _landmarks(other, "demo_000")


def test_layout_and_json(small: DemoManifest) -> None:
    assert small.training_cases == ("demo_000", "demo_001", "demo_002")
    assert small.test_cases == ("demo_003", "demo_004", "demo_005")
    assert 10 <= len(small.names) <= 16 and small.names == LANDMARK_NAMES
    pairs = {n[:-2] for n in small.names if n.endswith("_L")}
    assert len(pairs) >= 3 and all(f"{p}_R" in small.names for p in pairs)
    dataset = json.loads((small.root / "dataset.json").read_text())
    assert dataset == {
        "name": "Demo",
        "landmarks": list(small.names),
        "training_cases": list(small.training_cases),
        "test_cases": list(small.test_cases),
        "seed": SMALL["seed"],
        "generator": GENERATOR,
    }
    for case in _cases(small):
        array, geometry = _image(small, case)
        assert array.dtype == np.float32 and geometry.size == SMALL["shape"]
        assert array.shape == SMALL["shape"][::-1]
        for rater in (None, "rater2"):
            payload = _landmarks(small, case, rater=rater)
            assert payload["coordinate_system"] == "LPS" and payload["units"] == "mm"
            assert [row["name"] for row in payload["landmarks"]] == list(small.names)
            for row in payload["landmarks"]:
                assert set(row) == {"name", "position", "present"}
                assert (row["position"] is None) == (not row["present"])
                assert row["position"] is None or len(row["position"]) == 3
    assert not list(small.root.rglob(".*")), "temporary files left behind"


def _rotation_angle_deg(direction: tuple[float, ...]) -> float:
    matrix = np.asarray(direction).reshape(3, 3)
    return math.degrees(math.acos(np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0)))


def test_geometry_is_oblique_and_anisotropic(small: DemoManifest, full_size: DemoManifest) -> None:
    geometries = [_image(m, c)[1] for m in (small, full_size) for c in _cases(m)]
    for geometry in geometries:
        matrix = np.asarray(geometry.direction).reshape(3, 3)
        assert np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-6)
        assert 4.5 <= _rotation_angle_deg(geometry.direction) <= 15.5
        assert geometry.spacing[0] == pytest.approx(geometry.spacing[1])
        assert geometry.spacing[2] / geometry.spacing[0] > 1.2
    assert len({g.direction for g in geometries}) == len(geometries)
    assert len({g.spacing for g in geometries}) == len(geometries)
    for geometry in geometries[-2:]:  # the default 64 x 64 x 48 grid
        assert 1.4 <= geometry.spacing[0] <= 1.6 and 2.0 <= geometry.spacing[2] <= 2.4


@pytest.mark.parametrize("which", ["small", "full_size"])
def test_every_present_landmark_is_inside_with_margin(which: str, request: pytest.FixtureRequest) -> None:
    manifest = request.getfixturevalue(which)
    for case in _cases(manifest):
        _, geometry = _image(manifest, case)
        rows = [r for r in _landmarks(manifest, case)["landmarks"] if r["present"]]
        index = geometry.world_to_index(np.array([r["position"] for r in rows]))
        assert np.all(index >= MARGIN_VOXELS - 1e-6)
        assert np.all(index <= np.array(geometry.size) - 1 - MARGIN_VOXELS + 1e-6)


def test_files_match_sampled_and_rendered_case(small: DemoManifest) -> None:
    case = _case_params(small, "demo_004", SMALL)
    image, landmarks = render_case(case)
    array, geometry = _image(small, "demo_004")
    assert np.array_equal(image, array)
    assert geometry.spacing == case.geometry.spacing and geometry.origin == case.geometry.origin
    written = {r["name"]: r["position"] for r in _landmarks(small, "demo_004")["landmarks"]}
    for name, point, present in zip(landmarks.names, landmarks.points, landmarks.present):
        assert written[name] == (point.tolist() if present else None)


@pytest.mark.parametrize("which", ["small", "full_size"])
def test_landmarks_are_not_intensity_spikes(which: str, request: pytest.FixtureRequest) -> None:
    manifest = request.getfixturevalue(which)
    for case in _cases(manifest):
        array, geometry = _image(manifest, case)
        rows = [r for r in _landmarks(manifest, case)["landmarks"] if r["present"]]
        for row in rows:
            k, j, i = np.round(geometry.world_to_index(np.array([row["position"]]))[0][::-1]).astype(int)
            block = array[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2].astype(np.float64)
            neighbours = np.delete(block.ravel(), 13)
            assert block[1, 1, 1] <= neighbours.max() + 0.2 * INTENSITY["body"], (case, row["name"])
            # On a structure, not on featureless tissue: the neighbourhood is not flat.
            wider = array[k - 2 : k + 3, j - 2 : j + 3, i - 2 : i + 3]
            assert np.ptp(wider) > 0.4 * INTENSITY["body"], (case, row["name"])


def _shell_probe(case: DemoCase, centre: np.ndarray, radius_mm: float) -> np.ndarray:
    directions = np.vstack([np.eye(3), -np.eye(3)])
    return centre + radius_mm * case.pose.scale * directions


@pytest.mark.parametrize("which", ["small", "full_size"])
def test_sphere_centre_is_dark_inside_a_bright_shell(which: str, request: pytest.FixtureRequest) -> None:
    manifest = request.getfixturevalue(which)
    settings = (
        SMALL
        if which == "small"
        else {"seed": 0, "n_train": 2, "n_test": 0, "n_absent": 0, "shape": (64, 64, 48)}
    )
    checked = 0
    for case_id in _cases(manifest):
        case = _case_params(manifest, case_id, settings)
        array, geometry = _image(manifest, case_id)
        for row in _landmarks(manifest, case_id)["landmarks"]:
            if not (row["name"].startswith("sphere_centre") and row["present"]):
                continue
            side = row["name"][-1]
            sphere = case.anatomy.spheres[side]
            centre = np.array(row["position"])
            inside = _sample(array, geometry, centre[None])[0]
            shell = _sample(array, geometry, _shell_probe(case, centre, (sphere.inner + sphere.outer) / 2))
            # Darker than soft tissue (fluid), and every direction meets a much brighter shell.
            assert inside < 0.85 * INTENSITY["body"], (case_id, row["name"], inside)
            assert shell.min() > inside + 0.8 * INTENSITY["body"], (case_id, row["name"], shell, inside)
            checked += 1
    assert checked >= 3


def test_absent_cases(small: DemoManifest) -> None:
    absent = absent_assignment(seed=7, n_train=3, n_test=3, n_absent=2)
    assert len(absent) == 2
    assert any(i >= 3 for i in absent), "expected an absent landmark among the test cases"
    for index, case_id in enumerate(_cases(small)):
        for rater in (None, "rater2"):
            rows = {r["name"]: r for r in _landmarks(small, case_id, rater=rater)["landmarks"]}
            missing = sorted(n for n, r in rows.items() if not r["present"])
            assert missing == ([absent[index]] if index in absent else []), (case_id, rater)
            assert all(rows[n]["position"] is None for n in missing)
    for index, name in absent.items():
        case_id = _cases(small)[index]
        case = _case_params(small, case_id, SMALL)
        array, geometry = _image(small, case_id)
        where = np.array(world_landmarks(case)[name])
        sphere = case.anatomy.spheres[name[-1]]
        probes = np.vstack([where[None], _shell_probe(case, where, (sphere.inner + sphere.outer) / 2)])
        values = _sample(array, geometry, probes)
        # Plain soft tissue (bias +-15 %, noise): no dark core, no bright shell.
        assert np.all(np.abs(values - INTENSITY["body"]) < 0.3 * INTENSITY["body"]), (case_id, values)


def test_rater2_jitter(small: DemoManifest) -> None:
    diffs = []
    for case_id in _cases(small):
        reference = _landmarks(small, case_id)["landmarks"]
        rater = _landmarks(small, case_id, rater="rater2")["landmarks"]
        for ref, other in zip(reference, rater):
            if ref["present"]:
                diffs.append(np.subtract(other["position"], ref["position"]))
    diffs = np.concatenate(diffs)
    sigma = SMALL["rater_jitter_mm"]
    assert np.std(diffs) == pytest.approx(sigma, rel=0.25)
    assert np.mean(np.abs(diffs)) == pytest.approx(sigma * math.sqrt(2 / math.pi), rel=0.25)
    assert abs(np.mean(diffs)) < 0.25 * sigma


def test_noise_level_in_background(small: DemoManifest) -> None:
    array, _ = _image(small, "demo_000")
    corners = np.concatenate([array[:, :3, :3].ravel(), array[:, -3:, -3:].ravel()])
    assert 0.025 * INTENSITY["body"] < np.std(corners) < 0.055 * INTENSITY["body"]
    assert abs(np.mean(corners)) < 0.02 * INTENSITY["body"]


@pytest.mark.parametrize(
    ("n_train", "n_test", "n_absent", "in_test"),
    [(20, 5, 2, 1), (3, 2, 2, 0), (3, 3, 2, 1), (2, 0, 2, 0), (1, 4, 3, 2), (20, 5, 0, 0)],
)
def test_absent_assignment(n_train: int, n_test: int, n_absent: int, in_test: int) -> None:
    absent = absent_assignment(seed=0, n_train=n_train, n_test=n_test, n_absent=n_absent)
    assert len(absent) == n_absent
    assert sum(i >= n_train for i in absent) == in_test
    assert all(0 <= i < n_train + n_test for i in absent)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shape": (8, 32, 24)},
        {"n_absent": 9, "n_train": 3, "n_test": 2},
        {"n_train": 0},
        {"rater_jitter_mm": -1.0},
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_demo_dataset(tmp_path, **kwargs)
