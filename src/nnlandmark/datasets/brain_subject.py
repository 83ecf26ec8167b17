"""Random choices of one synthetic brain subject: warp of the template, image grid and intensity appearance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnlandmark.datasets.brain_warp import Warp, sample_warp
from nnlandmark.datasets.demo import case_rng, float32_exact
from nnlandmark.landmarks import ImageGeometry

MAX_CUT = 0.25  # each side of the field of view loses up to this share of its extent
GAMMA = (0.7, 1.4)
INTENSITY_SCALE = (300.0, 3000.0)
INTENSITY_OFFSET = (-0.05, 0.05)  # times the scale
BIAS_AMPLITUDE = (0.05, 0.2)
BIAS_SCALE_MM = 100.0
NOISE = (0.01, 0.04)  # standard deviation, times the scale
_HEAD_THRESHOLD = 0.1  # of the template's 99th intensity percentile


@dataclass(frozen=True, eq=False)
class TemplateVolume:
    """The template's voxels (float32, numpy order [k, j, i]) and what the generator derives from them."""

    array: np.ndarray
    geometry: ImageGeometry
    background: float  # median intensity of the air at the template's border
    reference: float  # the 99th percentile inside the head: intensity 1 of the appearance model
    head_corners: np.ndarray  # (8, 3) LPS mm corners of the head's bounding box

    @property
    def head_centre(self) -> np.ndarray:
        return self.head_corners.mean(axis=0)

    @property
    def head_extent_mm(self) -> np.ndarray:
        return self.head_corners.max(axis=0) - self.head_corners.min(axis=0)


def load_template_volume(path: Path) -> TemplateVolume:
    """Read the template image; the head is every voxel above 10 % of the 99th intensity percentile."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    geometry = ImageGeometry.from_image(image)
    head = array > _HEAD_THRESHOLD * float(np.percentile(array, 99))
    bounds = [np.flatnonzero(np.any(head, axis=axes)) for axes in ((0, 1), (0, 2), (1, 2))]  # i, j, k
    low = [b[0] for b in bounds]
    high = [b[-1] for b in bounds]
    corners = box_corners(np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64))
    return TemplateVolume(
        array=array,
        geometry=geometry,
        background=_air(array, head),
        reference=float(np.percentile(array[head], 99)),
        head_corners=geometry.index_to_world(corners),
    )


def _air(array: np.ndarray, head: np.ndarray) -> float:
    """Median of the border voxels outside the head (dark voxels inside the head are not air)."""
    border = np.ones(array.shape, dtype=bool)
    border[1:-1, 1:-1, 1:-1] = False
    air = array[border & ~head]
    return float(np.median(air)) if air.size else 0.0


@dataclass(frozen=True)
class Appearance:
    """Intensity model: scale * (bias * (v / reference) ** gamma + offset) + scale * noise * N(0, 1)."""

    gamma: float
    scale: float
    offset: float
    bias_coefficients: tuple[float, ...]
    bias_amplitude: float
    noise: float
    noise_entropy: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class BrainSubject:
    """Every random choice of one case; rendering it (:mod:`nnlandmark.datasets.brain`) is deterministic."""

    case_id: str
    warp: Warp
    geometry: ImageGeometry
    appearance: Appearance


def signed_permutation(rng: np.random.Generator) -> np.ndarray:
    """One of the 48 axis-aligned directions: column ``a`` is the world direction of array axis ``a``."""
    direction = np.zeros((3, 3))
    direction[rng.permutation(3), np.arange(3)] = rng.choice([-1.0, 1.0], size=3)
    return direction


def box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(8, 3) corners of the axis-aligned box from ``low`` to ``high``."""
    return np.array([[(low, high)[a][0], (low, high)[b][1], (low, high)[c][2]]
                     for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.float64)


def scan_box(fiducials: np.ndarray, *, margin_mm: float) -> np.ndarray:
    """(8, 3) template-space corners of the scanned region: the fiducials' box widened by ``margin_mm``."""
    present = fiducials[np.all(np.isfinite(fiducials), axis=1)]
    return box_corners(present.min(axis=0) - margin_mm, present.max(axis=0) + margin_mm)


def sample_geometry(
    rng: np.random.Generator, *, warp: Warp, box: np.ndarray, spacing: tuple[float, float, float]
) -> ImageGeometry:
    """A grid stored in a random axis order and sense, covering the template-space ``box`` (8 corners) in subject
    space with each of its six sides cut by 0-25 % of the extent."""
    direction = signed_permutation(rng)
    along = warp.invert(box) @ direction  # coordinates along the array axes
    low, high = along.min(axis=0), along.max(axis=0)
    extent = high - low
    cuts = rng.uniform(0.0, MAX_CUT, size=(2, 3))
    low, high = low + cuts[0] * extent, high - cuts[1] * extent
    spacing = tuple(float32_exact(s) for s in spacing)
    size = tuple(math.floor((h - lo) / s) + 1 for lo, h, s in zip(low, high, spacing))
    return ImageGeometry(
        size=size,
        spacing=spacing,
        origin=tuple(float32_exact(v) for v in direction @ low),
        direction=tuple(float(v) + 0.0 for v in direction.ravel()),  # + 0.0: no -0.0 in headers
    )


def sample_appearance(rng: np.random.Generator, *, entropy: tuple[int, ...]) -> Appearance:
    """Gamma, global scale and offset, a quadratic bias field and the noise level of one case."""
    return Appearance(
        gamma=float(math.exp(rng.uniform(math.log(GAMMA[0]), math.log(GAMMA[1])))),
        scale=float(rng.uniform(*INTENSITY_SCALE)),
        offset=float(rng.uniform(*INTENSITY_OFFSET)),
        bias_coefficients=tuple(float(c) for c in rng.normal(size=9)),
        bias_amplitude=float(rng.uniform(*BIAS_AMPLITUDE)),
        noise=float(rng.uniform(*NOISE)),
        noise_entropy=entropy,
    )


def sample_subject(
    *, seed: int, index: int, template: TemplateVolume, spacing: tuple[float, float, float],
    box: np.ndarray | None = None,
) -> BrainSubject:
    """Draw warp, grid and appearance of case ``index`` (independent generators, see ``case_rng``); the grid
    covers the template-space ``box`` (8 corners; the whole head when None) before its sides are cut."""
    warp = sample_warp(case_rng(seed, index, 0), centre=template.head_centre, extent_mm=template.head_extent_mm)
    geometry = sample_geometry(case_rng(seed, index, 1), warp=warp,
                               box=template.head_corners if box is None else box, spacing=spacing)
    appearance = sample_appearance(case_rng(seed, index, 2), entropy=(seed, index, 3))
    return BrainSubject(case_id=f"sub_{index:03d}", warp=warp, geometry=geometry, appearance=appearance)
