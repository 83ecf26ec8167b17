"""Real-size synthetic dataset: the demo phantom on a fine anisotropic grid larger than a training patch."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from nnlandmark.datasets.demo import (
    DemoCase,
    DemoManifest,
    Pose,
    case_rng,
    float32_exact,
    oblique_direction,
    sample_appearance,
    validate_generator_arguments,
    world_landmarks,
    world_to_index,
    write_synthetic_dataset,
)
from nnlandmark.datasets.demo_phantom import Vec, apply, rotation, sample_anatomy
from nnlandmark.datasets.realsize_phantom import REALSIZE_NAMES, RealsizeAnatomy, sample_realsize_anatomy
from nnlandmark.landmarks import ImageGeometry

logger = logging.getLogger(__name__)

GENERATOR = "nnlandmark realsize v1"
IN_PLANE_MM = (0.77, 0.83)
SLICE_MM = (2.4, 2.7)  # at least 2.89 times the in-plane spacing
SCALE = (0.95, 1.05)
# The most anterior present landmark (usually the navel) lies this many voxels from the grid's first row, the
# most inferior (usually an iliac end) this many slices above the first slice: landmarks at the image border.
BORDER_ROWS = (2.0, 4.0)
BORDER_SLICES = (1.5, 2.5)
CLOSE_PAIR_VOXELS = (2.4, 2.8)  # pin tips apart, in in-plane voxels (mm / in-plane spacing)
MIN_MARGIN_VOXELS = 1.0  # every landmark, absent ones included, at least this far inside
_MAX_POSE_TRIES = 200


def _index_offsets(
    points: dict[str, Vec], geometry: ImageGeometry, *, present: list[str], rng: np.random.Generator
) -> Vec:
    """Grid-index offsets that put the most anterior present landmark near the first row, the most inferior
    near the first slice, and the landmarks' left-right extent inside the columns with slack on both sides."""
    index = {name: world_to_index(geometry, p) for name, p in points.items()}
    low = [min(index[n][c] for n in present) for c in range(3)]
    i_values = [v[0] for v in index.values()]
    slack = geometry.size[0] - 1 - 2 * MIN_MARGIN_VOXELS - (max(i_values) - min(i_values))
    return (
        min(i_values) - MIN_MARGIN_VOXELS - max(slack, 0.0) * float(rng.uniform(0.3, 0.7)),
        low[1] - float(rng.uniform(*BORDER_ROWS)),
        low[2] - float(rng.uniform(*BORDER_SLICES)),
    )


def _fits(case: DemoCase) -> bool:
    size = case.geometry.size
    for point in world_landmarks(case).values():
        index = world_to_index(case.geometry, point)
        if any(not MIN_MARGIN_VOXELS <= index[c] <= size[c] - 1 - MIN_MARGIN_VOXELS for c in range(3)):
            return False
    return True


def sample_realsize_case(
    *, seed: int, index: int, shape: tuple[int, int, int], absent: tuple[str, ...] = ()
) -> DemoCase:
    """Draw anatomy, pose and grid of case ``index``; the grid is placed on the landmarks (see
    :func:`_index_offsets`), redrawing the pose until every landmark is inside."""
    case_id = f"realsize_{index:03d}"
    rng = case_rng(seed, index, 1)
    in_plane, between = float(rng.uniform(*IN_PLANE_MM)), float(rng.uniform(*SLICE_MM))
    spacing = (float32_exact(in_plane), float32_exact(in_plane), float32_exact(between))
    scale = float(rng.uniform(*SCALE))
    extras_rng = case_rng(seed, index, 6)
    gap_mm = float(extras_rng.uniform(*CLOSE_PAIR_VOXELS)) * spacing[0] / scale
    anatomy: RealsizeAnatomy = sample_realsize_anatomy(
        sample_anatomy(case_rng(seed, index, 0), absent=absent), extras_rng, pin_gap_mm=gap_mm
    )
    centre = (float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10)), float(rng.uniform(-30, 30)))
    appearance = sample_appearance(seed=seed, index=index)
    present = [n for n in anatomy.names if n not in anatomy.absent]
    for attempt in range(1, _MAX_POSE_TRIES + 1):
        pose = Pose(
            rotation=rotation(*(math.radians(float(rng.uniform(-15, 15))) for _ in range(3))),
            scale=scale,
            translation=tuple(float(rng.uniform(-3, 3)) for _ in range(3)),
            centre=centre,
        )
        direction = oblique_direction(rng)
        flat = tuple(v for row in direction for v in row)
        at_zero = ImageGeometry(size=tuple(shape), spacing=spacing, origin=(0.0, 0.0, 0.0), direction=flat)
        points = {name: pose.to_world(p) for name, p in anatomy.landmarks().items()}
        offsets = _index_offsets(points, at_zero, present=present, rng=rng)
        grid = tuple(tuple(direction[r][c] * spacing[c] for c in range(3)) for r in range(3))
        origin = tuple(float32_exact(v) for v in apply(grid, offsets))
        geometry = ImageGeometry(size=tuple(shape), spacing=spacing, origin=origin, direction=flat)
        case = DemoCase(case_id=case_id, anatomy=anatomy, pose=pose, geometry=geometry, **appearance)
        if _fits(case):
            logger.debug("%s: pose accepted after %d draw(s)", case_id, attempt)
            return case
    raise RuntimeError(
        f"{case_id}: no pose put every landmark {MIN_MARGIN_VOXELS} voxel(s) inside a {shape} grid "
        f"in {_MAX_POSE_TRIES} draws; use a larger shape"
    )


def generate_realsize_dataset(
    out_dir: Path,
    *,
    n_train: int = 20,
    n_test: int = 8,
    seed: int = 0,
    shape: tuple[int, int, int] = (112, 112, 40),
    n_absent: int = 6,
    rater_jitter_mm: float = 0.6,
) -> DemoManifest:
    """Write the real-size dataset as an own-data folder, laid out as the demo's."""
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
        sample=lambda index, absent: sample_realsize_case(seed=seed, index=index, shape=shape, absent=absent),
        names=REALSIZE_NAMES,
        title="RealSize",
        generator=GENERATOR,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        n_absent=n_absent,
        rater_jitter_mm=rater_jitter_mm,
    )
