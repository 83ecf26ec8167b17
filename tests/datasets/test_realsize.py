"""Tests of the real-size dataset (config/realsize.yaml): the geometry the real-size check relies on."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from scipy import ndimage

from nnlandmark.datasets.demo import DemoCase, DemoManifest, absent_assignment, render_case, world_landmarks
from nnlandmark.datasets.demo_phantom import INTENSITY, REMOVABLE
from nnlandmark.datasets.realsize import (
    GENERATOR,
    IN_PLANE_MM,
    SLICE_MM,
    generate_realsize_dataset,
    sample_realsize_case,
)
from nnlandmark.datasets.realsize_phantom import CLOSE_PAIR, CLUSTER, REALSIZE_NAMES
from nnlandmark.landmarks import ImageGeometry

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config" / "realsize.yaml").read_text())
BLOCK = CONFIG["datasets"]["realsize"]
SHAPE = tuple(BLOCK["shape"])
REDUCED = {"n_train": 2, "n_test": 3, "n_absent": 2, "seed": 5, "shape": SHAPE}


def _sample_all(settings: dict) -> list[DemoCase]:
    absent = absent_assignment(
        seed=settings["seed"],
        n_train=settings["n_train"],
        n_test=settings["n_test"],
        n_absent=settings["n_absent"],
    )
    return [
        sample_realsize_case(
            seed=settings["seed"],
            index=i,
            shape=tuple(settings["shape"]),
            absent=(absent[i],) if i in absent else (),
        )
        for i in range(settings["n_train"] + settings["n_test"])
    ]


@pytest.fixture(scope="module")
def configured() -> list[DemoCase]:
    """Every case of config/realsize.yaml, sampled (anatomy, pose, grid) but not rendered."""
    return _sample_all(BLOCK)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    """A few full-size cases written to disk, with an absent landmark in a training and a test case."""
    return generate_realsize_dataset(tmp_path_factory.mktemp("realsize") / "data", **REDUCED)


def _voxel_offset(geometry: ImageGeometry, a: tuple, b: tuple) -> np.ndarray:
    return geometry.world_to_index(np.array([a]))[0] - geometry.world_to_index(np.array([b]))[0]


def test_config_selects_the_realsize_phantom() -> None:
    assert BLOCK["format"] == "demo" and BLOCK["phantom"] == "realsize"
    assert CONFIG["datasets"]["demo"] == {"enabled": False}
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    phantom = schema["properties"]["datasets"]["additionalProperties"]["properties"]["phantom"]
    assert "realsize" in phantom["enum"]


def test_image_is_at_least_twice_the_patch(configured: list[DemoCase]) -> None:
    # nnU-Net's patch is in the preprocessed array's order (z, y, x): ITK (i, j, k) reversed, as the plans'
    # transpose_forward is the identity when the slice axis has the coarsest spacing.
    patch_itk = tuple(reversed(CONFIG["nnunet"]["plan_overrides"]["patch_size"]))
    # Worst case after resampling to the median spacing: the finest case against the coarsest.
    ranges = (IN_PLANE_MM, IN_PLANE_MM, SLICE_MM)
    worst = [size * low / high for size, (low, high) in zip(SHAPE, ranges)]
    assert sum(w >= 2 * p for w, p in zip(worst, patch_itk)) >= 2, (worst, patch_itk)
    assert all(p < w for w, p in zip(worst, patch_itk)), "the patch must not cover the image along any axis"
    for case in configured:
        assert case.geometry.size == SHAPE
        assert IN_PLANE_MM[0] <= case.geometry.spacing[0] <= IN_PLANE_MM[1]
        assert SLICE_MM[0] <= case.geometry.spacing[2] <= SLICE_MM[1]


def test_anisotropic_and_oblique(configured: list[DemoCase]) -> None:
    for case in configured:
        spacing = case.geometry.spacing
        assert spacing[0] == spacing[1] and spacing[2] >= 2.5 * spacing[0], spacing
        direction = np.asarray(case.geometry.direction).reshape(3, 3)
        assert np.allclose(direction @ direction.T, np.eye(3), atol=1e-9)
        angle = math.degrees(math.acos(np.clip((np.trace(direction) - 1.0) / 2.0, -1.0, 1.0)))
        assert 4.5 <= angle <= 15.5, (case.case_id, angle)
    assert len({c.geometry.direction for c in configured}) == len(configured)


def test_landmarks_and_mirror_pairs(configured: list[DemoCase]) -> None:
    assert len(REALSIZE_NAMES) >= 14 and len(set(REALSIZE_NAMES)) == len(REALSIZE_NAMES)
    pairs = [(n, n[:-2] + "_R") for n in REALSIZE_NAMES if n.endswith("_L")]
    assert len(pairs) >= 4 and all(right in REALSIZE_NAMES for _, right in pairs)
    for case in configured:
        canonical = case.anatomy.landmarks()
        assert tuple(canonical) == REALSIZE_NAMES
        for left, right in pairs:
            (xl, yl, zl), (xr, yr, zr) = canonical[left], canonical[right]
            # Mirrored about the phantom's mid-sagittal plane x = 0 (LPS: +x is the patient's left).
            assert xl > 0 > xr, (case.case_id, left)
            assert max(abs(xl + xr), abs(yl - yr), abs(zl - zr)) < 6.0, (case.case_id, left, right)


def test_cluster_within_10_mm(configured: list[DemoCase]) -> None:
    assert len(CLUSTER) >= 4
    for case in configured:
        world = world_landmarks(case)
        points = [world[n] for n in CLUSTER]
        spread = max(math.dist(a, b) for a in points for b in points)
        assert 5.0 < spread < 10.0, (case.case_id, spread)


def test_close_pair_under_three_in_plane_voxels(configured: list[DemoCase]) -> None:
    for case in configured:
        world = world_landmarks(case)
        a, b = (world[n] for n in CLOSE_PAIR)
        assert math.dist(a, b) < 3 * case.geometry.spacing[0], case.case_id
        # ... but at least 2 voxels apart on the grid, the closest pair conversion can encode.
        assert np.linalg.norm(_voxel_offset(case.geometry, a, b)) >= 2.1, case.case_id


def _face_distance_mm(case: DemoCase, point: tuple) -> np.ndarray:
    """Distance from each of the six faces' outermost voxel centres, in mm: (low i, j, k, high i, j, k)."""
    index = case.geometry.world_to_index(np.array([point]))[0]
    size, spacing = np.array(case.geometry.size), np.array(case.geometry.spacing)
    return np.concatenate([index * spacing, (size - 1 - index) * spacing])


def test_landmarks_inside_and_near_the_border(configured: list[DemoCase]) -> None:
    for case in configured:
        world = world_landmarks(case)
        distances = {n: _face_distance_mm(case, p) for n, p in world.items()}
        assert all(np.all(d >= 0.99 * min(case.geometry.spacing)) for d in distances.values()), case.case_id
        present = [n for n in REALSIZE_NAMES if n not in case.anatomy.absent]
        in_plane = min(min(distances[n][[0, 1, 3, 4]]) for n in present)
        through_plane = min(min(distances[n][[2, 5]]) for n in present)
        assert in_plane <= 4.0 and through_plane <= 3.0 * case.geometry.spacing[2], case.case_id


def test_absent_landmarks_in_training_and_test_cases() -> None:
    absent = absent_assignment(
        seed=BLOCK["seed"], n_train=BLOCK["n_train"], n_test=BLOCK["n_test"], n_absent=BLOCK["n_absent"]
    )
    assert sum(i < BLOCK["n_train"] for i in absent) >= 2
    assert sum(i >= BLOCK["n_train"] for i in absent) >= 2
    assert set(absent.values()) <= set(REMOVABLE)


def _landmarks(manifest: DemoManifest, case: str) -> dict[str, dict]:
    payload = json.loads((manifest.root / "landmarks" / f"{case}.json").read_text())
    return {row["name"]: row for row in payload["landmarks"]}


def test_generated_dataset(generated: DemoManifest) -> None:
    cases = _sample_all(REDUCED)
    assert generated.names == REALSIZE_NAMES
    assert generated.training_cases == ("realsize_000", "realsize_001")
    assert generated.test_cases == ("realsize_002", "realsize_003", "realsize_004")
    dataset = json.loads((generated.root / "dataset.json").read_text())
    assert dataset["name"] == "RealSize" and dataset["generator"] == GENERATOR
    missing = {}
    for case in cases:
        image = sitk.ReadImage(str(generated.root / "images" / f"{case.case_id}.nii.gz"))
        assert image.GetSize() == SHAPE and ImageGeometry.from_image(image).spacing == case.geometry.spacing
        assert np.array_equal(sitk.GetArrayFromImage(image), render_case(case)[0])
        rows = _landmarks(generated, case.case_id)
        assert list(rows) == list(REALSIZE_NAMES)
        missing[case.case_id] = sorted(n for n, r in rows.items() if not r["present"])
        assert missing[case.case_id] == sorted(case.anatomy.absent)
    assert any(missing[c] for c in generated.training_cases) and any(missing[c] for c in generated.test_cases)


def test_cluster_and_close_pair_are_resolved_in_the_image(generated: DemoManifest) -> None:
    for case in _sample_all(REDUCED):
        array = sitk.GetArrayFromImage(
            sitk.ReadImage(str(generated.root / "images" / f"{case.case_id}.nii.gz"))
        )
        world = {n: np.array(p) for n, p in world_landmarks(case).items()}

        def sample(points: np.ndarray, array: np.ndarray = array, case: DemoCase = case) -> np.ndarray:
            index = case.geometry.world_to_index(np.atleast_2d(points))
            return ndimage.map_coordinates(array, index[:, ::-1].T, order=1)

        front, back = world["pin_tip_anterior"], world["pin_tip_posterior"]
        axis = (back - front) / np.linalg.norm(back - front)
        gap, pins = sample((front + back) / 2), sample(np.array([front - 1.2 * axis, back + 1.2 * axis]))
        # Soft tissue in the gap, bright pins on both sides of it.
        assert gap[0] < 1.3 * INTENSITY["body"] and pins.min() > gap[0] + INTENSITY["body"], (
            case.case_id,
            gap,
            pins,
        )
        junction = sample(world["tbar_junction"])[0]
        assert junction > 1.5 * INTENSITY["body"], (case.case_id, junction)


def test_snakemake_dry_run(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "-n",
        "--cores",
        "2",
        "--resources",
        "gpu=1",
        "--configfile",
        str(REPO / "config" / "realsize.yaml"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert f"{CONFIG['results']}/realsize/tables/summary.csv" in output
    assert "results/demo/" not in output
