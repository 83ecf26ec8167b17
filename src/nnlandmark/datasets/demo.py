"""Deterministic synthetic demo dataset: posed analytic anatomy on oblique anisotropic grids, with landmarks."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from nnlandmark.datasets.demo_phantom import (
    INTENSITY,
    LANDMARK_NAMES,
    REMOVABLE,
    Matrix,
    Phantom,
    Vec,
    apply,
    matmul,
    rotation,
    sample_anatomy,
    transpose,
)
from nnlandmark.landmarks import ImageGeometry, LandmarkSet

logger = logging.getLogger(__name__)

GENERATOR = "nnlandmark demo v1"
MARGIN_VOXELS = 4
_REFERENCE_SIZE = (64, 64, 48)  # the sizes at which spacing is ~1.5 mm in-plane and ~2.2 mm between slices
_MAX_POSE_TRIES = 200
_BIAS_SCALE_MM = 60.0
_COORDINATE_DECIMALS = 6


@dataclass(frozen=True)
class DemoManifest:
    """What :func:`generate_demo_dataset` wrote: landmark names, case ids per split, and the folder."""

    names: tuple[str, ...]
    training_cases: tuple[str, ...]
    test_cases: tuple[str, ...]
    root: Path


@dataclass(frozen=True)
class Pose:
    """Similarity pose of the anatomy: world = centre + translation + scale * rotation @ canonical."""

    rotation: Matrix
    scale: float
    translation: Vec
    centre: Vec

    def to_world(self, point: Vec) -> Vec:
        """Canonical mm -> world LPS mm."""
        r = apply(self.rotation, point)
        return tuple(self.centre[c] + self.translation[c] + self.scale * r[c] for c in range(3))


@dataclass(frozen=True)
class DemoCase:
    """Every random choice of one case; :func:`render_case` turns it into an image deterministically."""

    case_id: str
    anatomy: Phantom
    pose: Pose
    geometry: ImageGeometry
    bias_coefficients: tuple[float, ...]
    bias_amplitude: float
    noise_sigma: float
    noise_entropy: tuple[int, ...]


def case_rng(seed: int, index: int, purpose: int) -> np.random.Generator:
    """An independent generator per (seed, case, purpose), so a case does not depend on the split sizes."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, purpose]))


def float32_exact(value: float) -> float:
    """``value`` rounded to float32: what NIfTI stores is then what the landmarks were computed with."""
    return float(np.float32(value))


def axis_angle(axis: Vec, angle: float) -> Matrix:
    """Rodrigues rotation about a unit axis."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return (
        (c + x * x * t, x * y * t - z * s, x * z * t + y * s),
        (y * x * t + z * s, c + y * y * t, y * z * t - x * s),
        (z * x * t - y * s, z * y * t + x * s, c + z * z * t),
    )


def oblique_direction(rng: np.random.Generator) -> Matrix:
    """A grid direction tilted 5-15 degrees about a random axis: oblique, as scanner slices are to anatomy."""
    axis = rng.normal(size=3)
    norm = math.sqrt(sum(float(a) * float(a) for a in axis))
    return axis_angle(tuple(float(a) / norm for a in axis), math.radians(float(rng.uniform(5, 15))))


def _grid_matrix(geometry: ImageGeometry) -> Matrix:
    """D @ diag(spacing): continuous index (i, j, k) -> world offset from the origin."""
    d, sp = geometry.direction, geometry.spacing
    return tuple(tuple(d[3 * r + c] * sp[c] for c in range(3)) for r in range(3))


def world_to_index(geometry: ImageGeometry, point: Vec) -> Vec:
    """World LPS mm -> continuous (i, j, k), on Python floats (the direction is orthonormal)."""
    offset = tuple(point[c] - geometry.origin[c] for c in range(3))
    d = geometry.direction
    return tuple(sum(d[3 * r + c] * offset[r] for r in range(3)) / geometry.spacing[c] for c in range(3))


def world_landmarks(case: DemoCase) -> dict[str, Vec]:
    """World LPS mm of every landmark, absent ones included (where their structure would be)."""
    return {name: case.pose.to_world(p) for name, p in case.anatomy.landmarks().items()}


def _inside(case: DemoCase) -> bool:
    upper = [s - 1 - MARGIN_VOXELS for s in case.geometry.size]
    for point in world_landmarks(case).values():
        index = world_to_index(case.geometry, point)
        if any(not (MARGIN_VOXELS <= index[c] <= upper[c]) for c in range(3)):
            return False
    return True


def sample_appearance(*, seed: int, index: int) -> dict[str, Any]:
    """Bias field and noise of case ``index``: the :class:`DemoCase` fields besides anatomy, pose and grid."""
    rng = case_rng(seed, index, 2)
    return {
        "bias_coefficients": tuple(float(c) for c in rng.normal(size=9)),
        "bias_amplitude": float(rng.uniform(0.08, 0.15)),
        "noise_sigma": float(rng.uniform(0.03, 0.05)) * INTENSITY["body"],
        "noise_entropy": (seed, index, 3),
    }


def sample_case(
    *, seed: int, index: int, shape: tuple[int, int, int], absent: tuple[str, ...] = ()
) -> DemoCase:
    """Draw anatomy, pose and image grid of case ``index``, redrawing pose and grid until all landmarks fit."""
    case_id = f"demo_{index:03d}"
    anatomy = sample_anatomy(case_rng(seed, index, 0), absent=absent)
    rng = case_rng(seed, index, 1)
    centre = (float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20)), float(rng.uniform(-60, 60)))
    appearance = sample_appearance(seed=seed, index=index)
    for attempt in range(1, _MAX_POSE_TRIES + 1):
        angles = [math.radians(float(rng.uniform(-15, 15))) for _ in range(3)]
        pose = Pose(
            rotation=rotation(*angles),
            scale=float(rng.uniform(0.9, 1.1)),
            translation=tuple(float(rng.uniform(-3, 3)) for _ in range(3)),
            centre=centre,
        )
        direction = oblique_direction(rng)
        in_plane, between = float(rng.uniform(1.4, 1.6)), float(rng.uniform(2.0, 2.4))
        # Same usable field of view at any size: a smaller grid gets coarser voxels, not cropped anatomy.
        # float32-exact spacing and origin: what NIfTI stores is what the landmarks were computed with.
        spacing = tuple(
            float32_exact(base * (ref - 2 * MARGIN_VOXELS) / (size - 2 * MARGIN_VOXELS))
            for base, ref, size in zip((in_plane, in_plane, between), _REFERENCE_SIZE, shape)
        )
        half = apply(
            tuple(tuple(direction[r][c] * spacing[c] for c in range(3)) for r in range(3)),
            tuple((s - 1) / 2.0 for s in shape),
        )
        geometry = ImageGeometry(
            size=tuple(shape),
            spacing=spacing,
            origin=tuple(float32_exact(centre[c] - half[c]) for c in range(3)),
            direction=tuple(v for row in direction for v in row),
        )
        case = DemoCase(case_id=case_id, anatomy=anatomy, pose=pose, geometry=geometry, **appearance)
        if _inside(case):
            logger.debug("%s: pose accepted after %d draw(s)", case_id, attempt)
            return case
    raise RuntimeError(
        f"{case_id}: no pose put every landmark {MARGIN_VOXELS} voxels inside a {shape} grid "
        f"in {_MAX_POSE_TRIES} draws; use a larger shape"
    )


def _bias_field(case: DemoCase, world: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Smooth multiplicative field 1 + quadratic polynomial, scaled to +-``bias_amplitude`` over the grid."""
    x, y, z = (w / _BIAS_SCALE_MM for w in world)
    terms = (x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)
    poly = sum(c * t for c, t in zip(case.bias_coefficients, terms))
    return 1.0 + poly * (case.bias_amplitude / max(float(np.max(np.abs(poly))), 1e-12))


def render_case(case: DemoCase) -> tuple[np.ndarray, LandmarkSet]:
    """The case's float32 image (numpy order [k, j, i]) and its reference landmarks in LPS mm."""
    geometry = case.geometry
    grid = _grid_matrix(geometry)
    size = geometry.size
    ii = np.arange(size[0], dtype=np.float64)[None, None, :]
    jj = np.arange(size[1], dtype=np.float64)[None, :, None]
    kk = np.arange(size[2], dtype=np.float64)[:, None, None]
    # Voxel -> world is origin + grid @ index; world -> canonical is R^T (world - centre - t) / scale.
    back = transpose(case.pose.rotation)
    shift = tuple(geometry.origin[c] - case.pose.centre[c] - case.pose.translation[c] for c in range(3))
    to_canonical = tuple(tuple(v / case.pose.scale for v in row) for row in matmul(back, grid))
    offset = tuple(v / case.pose.scale for v in apply(back, shift))
    canonical = tuple(m[0] * ii + m[1] * jj + m[2] * kk + b for m, b in zip(to_canonical, offset))
    edge_mm = 1.1 * min(geometry.spacing)
    image = case.anatomy.render(canonical, edge_mm=edge_mm)
    from_centre = tuple(geometry.origin[c] - case.pose.centre[c] for c in range(3))
    world = tuple(m[0] * ii + m[1] * jj + m[2] * kk + b for m, b in zip(grid, from_centre))
    image = image * _bias_field(case, world)
    noise = np.random.default_rng(np.random.SeedSequence(list(case.noise_entropy))).standard_normal(
        image.shape
    )
    image = (image + case.noise_sigma * noise).astype(np.float32)
    points = {
        name: None if name in case.anatomy.absent else tuple(round(v, _COORDINATE_DECIMALS) for v in p)
        for name, p in world_landmarks(case).items()
    }
    return image, LandmarkSet.from_points(points, order=case.anatomy.names)


def jitter_landmarks(landmarks: LandmarkSet, *, sigma_mm: float, rng: np.random.Generator) -> LandmarkSet:
    """A simulated second rater: independent N(0, sigma_mm) per coordinate; absent stays absent."""
    jitter = rng.normal(0.0, sigma_mm, size=landmarks.points.shape)
    points = np.round(landmarks.points + jitter, _COORDINATE_DECIMALS)
    return LandmarkSet(landmarks.names, points, landmarks.present)


def _atomic_write(path: Path, write: Callable[[Path], object], *, suffix: str) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would survive the rename; a fresh name gets the usual umask mode.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, payload: dict) -> None:
    text = json.dumps(payload, indent=2) + "\n"
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), suffix=".json")


def _write_landmarks_json(path: Path, landmarks: LandmarkSet) -> None:
    """The package's landmark JSON (LPS mm, null position for absent landmarks)."""
    rows = [
        {"name": name, "position": [float(v) for v in point] if ok else None, "present": bool(ok)}
        for name, point, ok in zip(landmarks.names, landmarks.points, landmarks.present)
    ]
    _write_json(path, {"coordinate_system": "LPS", "units": "mm", "landmarks": rows})


def _write_image(path: Path, array: np.ndarray, geometry: ImageGeometry) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    _atomic_write(path, lambda tmp: sitk.WriteImage(image, str(tmp), True), suffix=".nii.gz")


def absent_assignment(*, seed: int, n_train: int, n_test: int, n_absent: int) -> dict[int, str]:
    """Case index -> the one landmark made absent; at least one test case when n_test >= 3 and n_absent >= 2."""
    total = n_train + n_test
    in_test = 0
    if n_test >= 3 and n_absent >= 2:
        in_test = min(n_test, max(1, round(n_absent * n_test / total)))
    in_train = min(n_absent - in_test, n_train)
    in_test = n_absent - in_train
    rng = case_rng(seed, 0, 4)
    chosen = [int(i) for i in rng.choice(n_train, size=in_train, replace=False)]
    chosen += [n_train + int(i) for i in rng.choice(n_test, size=in_test, replace=False)] if in_test else []
    return {i: REMOVABLE[int(rng.integers(len(REMOVABLE)))] for i in sorted(chosen)}


def validate_generator_arguments(
    *, n_train: int, n_test: int, seed: int, shape: tuple[int, ...], n_absent: int, rater_jitter_mm: float
) -> tuple[int, int, int]:
    """The checked ITK size (i, j, k); a ValueError naming what was expected otherwise."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"expected a shape of three sizes >= 16 (i, j, k), got {shape}")
    if n_train < 1 or n_test < 0 or seed < 0:
        raise ValueError(f"expected n_train >= 1, n_test >= 0, seed >= 0; got {n_train}, {n_test}, {seed}")
    if not 0 <= n_absent <= n_train + n_test:
        raise ValueError(f"expected 0 <= n_absent <= {n_train + n_test} cases, got {n_absent}")
    if rater_jitter_mm < 0:
        raise ValueError(f"expected rater_jitter_mm >= 0, got {rater_jitter_mm}")
    return shape


def write_synthetic_dataset(
    out_dir: Path,
    *,
    sample: Callable[[int, tuple[str, ...]], DemoCase],
    names: tuple[str, ...],
    title: str,
    generator: str,
    n_train: int,
    n_test: int,
    seed: int,
    n_absent: int,
    rater_jitter_mm: float,
) -> DemoManifest:
    """Render ``sample(index, absent)`` for every case into an own-data folder (images/, landmarks/,
    raters/rater2/, dataset.json); the first ``n_train`` cases train, the rest are held out."""
    out_dir = Path(out_dir)
    absent = absent_assignment(seed=seed, n_train=n_train, n_test=n_test, n_absent=n_absent)
    total = n_train + n_test
    logger.info("writing %d %s cases to %s", total, title, out_dir)
    start = time.perf_counter()
    case_ids = []
    for index in range(total):
        name = absent.get(index)
        case = sample(index, (name,) if name else ())
        image, landmarks = render_case(case)
        _write_image(out_dir / "images" / f"{case.case_id}.nii.gz", image, case.geometry)
        _write_landmarks_json(out_dir / "landmarks" / f"{case.case_id}.json", landmarks)
        rater = jitter_landmarks(landmarks, sigma_mm=rater_jitter_mm, rng=case_rng(seed, index, 5))
        _write_landmarks_json(out_dir / "raters" / "rater2" / f"{case.case_id}.json", rater)
        case_ids.append(case.case_id)
        logger.info(
            "%s written (%d/%d)%s", case.case_id, index + 1, total, f", {name} absent" if name else ""
        )
    manifest = DemoManifest(
        names=names,
        training_cases=tuple(case_ids[:n_train]),
        test_cases=tuple(case_ids[n_train:]),
        root=out_dir,
    )
    _write_json(
        out_dir / "dataset.json",
        {
            "name": title,
            "landmarks": list(manifest.names),
            "training_cases": list(manifest.training_cases),
            "test_cases": list(manifest.test_cases),
            "seed": seed,
            "generator": generator,
        },
    )
    logger.info("%s dataset written in %.1f s", title, time.perf_counter() - start)
    return manifest


def generate_demo_dataset(
    out_dir: Path,
    *,
    n_train: int = 20,
    n_test: int = 5,
    seed: int = 0,
    shape: tuple[int, int, int] = (64, 64, 48),
    n_absent: int = 2,
    rater_jitter_mm: float = 0.6,
) -> DemoManifest:
    """Write the demo as an own-data folder: images/, landmarks/, raters/rater2/ and dataset.json."""
    shape = validate_generator_arguments(
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        shape=shape,
        n_absent=n_absent,
        rater_jitter_mm=rater_jitter_mm,
    )
    return write_synthetic_dataset(
        out_dir,
        sample=lambda index, absent: sample_case(seed=seed, index=index, shape=shape, absent=absent),
        names=LANDMARK_NAMES,
        title="Demo",
        generator=GENERATOR,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        n_absent=n_absent,
        rater_jitter_mm=rater_jitter_mm,
    )
