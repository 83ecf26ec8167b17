"""Shared fixtures: small oblique, anisotropic images with landmarks; the real brain template."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.datasets.brain_template import BrainTemplate, fetch_brain_template
from nnlandmark.datasets.download import DownloadError
from nnlandmark.landmarks import ImageGeometry, LandmarkSet


def oblique_direction(angle_deg: float = 25.0, axis: tuple[float, float, float] = (1.0, 2.0, 3.0)) -> tuple[float, ...]:
    """Row-major rotation matrix (Rodrigues) about ``axis``: non-identity direction cosines."""
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    t = np.deg2rad(angle_deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    r = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    return tuple(float(v) for v in r.ravel())


@pytest.fixture
def oblique_geometry() -> ImageGeometry:
    return ImageGeometry(size=(30, 26, 18), spacing=(0.9, 1.3, 2.5), origin=(-12.0, 30.5, 7.0),
                         direction=oblique_direction())


def write_case(folder: Path, case_id: str, geometry: ImageGeometry, landmarks: LandmarkSet, *, seed: int = 0) -> Path:
    """Write a noise image with ``geometry`` as ``folder/images/<case>.nii.gz``; returns its path."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.normal(100, 10, size=geometry.size[::-1]).astype(np.float32))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    path = folder / "images" / f"{case_id}.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="session")
def real_template(tmp_path_factory: pytest.TempPathFactory) -> BrainTemplate:
    """The real brain template, fetched once per session (or kept in $NNLANDMARK_BRAIN_TEMPLATE_CACHE)."""
    cache = Path(os.environ.get("NNLANDMARK_BRAIN_TEMPLATE_CACHE") or tmp_path_factory.mktemp("brain_template"))
    try:
        return fetch_brain_template(cache)
    except DownloadError as err:
        pytest.skip(f"the brain template could not be fetched (no network?): {err}")
