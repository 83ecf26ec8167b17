"""Synthetic "real anatomy" dataset: the MNI152 brain template warped per subject, with exact AFIDs landmarks."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from nnlandmark.datasets.brain_subject import (
    BIAS_SCALE_MM,
    Appearance,
    BrainSubject,
    TemplateVolume,
    load_template_volume,
    sample_subject,
    scan_box,
)
from nnlandmark.datasets.brain_template import BrainTemplate, fetch_brain_template
from nnlandmark.datasets.demo import (
    DemoManifest,
    _write_image,
    _write_json,
    _write_landmarks_json,
    case_rng,
    jitter_landmarks,
)
from nnlandmark.landmarks import ImageGeometry, LandmarkSet

logger = logging.getLogger(__name__)

GENERATOR = "nnlandmark brain v1"


def voxel_centres(geometry: ImageGeometry) -> np.ndarray:
    """LPS mm of every voxel centre, (N, 3), in the numpy order [k, j, i] of the image array."""
    matrix = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3) * np.asarray(geometry.spacing)
    k, j, i = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in geometry.size[::-1]), indexing="ij")
    index = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    return index @ matrix.T + np.asarray(geometry.origin)


def sample_template(template: TemplateVolume, points: np.ndarray) -> np.ndarray:
    """Template intensity at (N, 3) template LPS points: trilinear, the background outside the template."""
    geometry = template.geometry
    matrix = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3) * np.asarray(geometry.spacing)
    index = (np.asarray(points, dtype=np.float64) - np.asarray(geometry.origin)) @ np.linalg.inv(matrix).T
    return ndimage.map_coordinates(
        template.array, index[:, ::-1].T, order=1, mode="constant", cval=template.background
    )


def apply_appearance(
    values: np.ndarray, points: np.ndarray, appearance: Appearance, *, reference: float, centre: np.ndarray
) -> np.ndarray:
    """Gamma, quadratic multiplicative bias (about ``centre``), global scale and offset, Gaussian noise."""
    x, y, z = ((np.asarray(points) - centre) / BIAS_SCALE_MM).T
    terms = (x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)
    poly = sum(c * t for c, t in zip(appearance.bias_coefficients, terms))
    bias = 1.0 + poly * (appearance.bias_amplitude / max(float(np.max(np.abs(poly))), 1e-12))
    shaped = np.clip(values / reference, 0.0, None) ** appearance.gamma
    noise = np.random.default_rng(np.random.SeedSequence(list(appearance.noise_entropy))).standard_normal(
        values.shape
    )
    return appearance.scale * (bias * shaped + appearance.offset + appearance.noise * noise)


def render_subject(
    template: TemplateVolume,
    subject: BrainSubject,
    *,
    geometry: ImageGeometry | None = None,
    appearance: bool = True,
) -> np.ndarray:
    """The subject's float32 image (numpy order [k, j, i]) on its grid, or on ``geometry`` when given:
    the template interpolated at T(x) for every voxel centre x; ``appearance=False`` keeps the template's
    own intensities (no gamma, bias, scale or noise)."""
    geometry = geometry or subject.geometry
    points = voxel_centres(geometry)
    values = sample_template(template, subject.warp.apply(points))
    if appearance:
        values = apply_appearance(
            values, points, subject.appearance, reference=template.reference, centre=subject.warp.centre
        )
    return values.astype(np.float32).reshape(geometry.size[::-1])


def subject_landmarks(subject: BrainSubject, fiducials: LandmarkSet) -> LandmarkSet:
    """The subject points p with T(p) = fiducial; absent when outside the grid's voxel centres."""
    points = subject.warp.invert(fiducials.points[fiducials.present])
    inside = subject.geometry.contains_index(subject.geometry.world_to_index(points), margin=0.0)
    coords = np.full((len(fiducials), 3), np.nan)
    present = np.zeros(len(fiducials), dtype=bool)
    coords[fiducials.present] = points
    present[fiducials.present] = inside
    return LandmarkSet(fiducials.names, coords, present)


def _spacing(spacing_mm: float | Sequence[float]) -> tuple[float, float, float]:
    values = (float(spacing_mm),) * 3 if np.isscalar(spacing_mm) else tuple(float(s) for s in spacing_mm)
    if len(values) != 3 or not all(0.5 <= s <= 10.0 for s in values):
        raise ValueError(f"expected spacing_mm as one value or three (i, j, k) in 0.5-10 mm, got {spacing_mm!r}")
    return values


def write_brain_dataset(
    out_dir: Path,
    *,
    template: BrainTemplate,
    n_train: int = 20,
    n_test: int = 8,
    seed: int = 0,
    spacing_mm: float | Sequence[float] = 2.5,
    margin_mm: float | None = None,
    n_absent: int = 0,
    rater_jitter_mm: float = 0.6,
) -> DemoManifest:
    """Write warped copies of ``template`` as an own-data folder (images/, landmarks/, raters/rater2/,
    dataset.json); the first ``n_train`` cases train, the rest are held out. Each field of view covers the
    fiducials' box widened by ``margin_mm`` (the whole head when None) before its sides are cut."""
    spacing = _spacing(spacing_mm)
    if n_train < 1 or n_test < 0 or seed < 0 or rater_jitter_mm < 0:
        raise ValueError(f"expected n_train >= 1, n_test >= 0, seed >= 0, rater_jitter_mm >= 0; got "
                         f"{n_train}, {n_test}, {seed}, {rater_jitter_mm}")
    if n_absent:
        raise ValueError(f"the brain dataset cannot remove anatomy, so n_absent must be 0 (got {n_absent}); "
                         "its landmarks are absent where a subject's field of view cuts them off")
    out_dir = Path(out_dir)
    volume = load_template_volume(template.image)
    box = None if margin_mm is None else scan_box(template.fiducials.points, margin_mm=margin_mm)
    total = n_train + n_test
    logger.info("writing %d brain cases at %s mm to %s", total, spacing, out_dir)
    start = time.perf_counter()
    case_ids = []
    for index in range(total):
        subject = sample_subject(seed=seed, index=index, template=volume, spacing=spacing, box=box)
        landmarks = subject_landmarks(subject, template.fiducials)
        _write_image(out_dir / "images" / f"{subject.case_id}.nii.gz", render_subject(volume, subject),
                     subject.geometry)
        _write_landmarks_json(out_dir / "landmarks" / f"{subject.case_id}.json", landmarks)
        rater = jitter_landmarks(landmarks, sigma_mm=rater_jitter_mm, rng=case_rng(seed, index, 5))
        _write_landmarks_json(out_dir / "raters" / "rater2" / f"{subject.case_id}.json", rater)
        case_ids.append(subject.case_id)
        outside = [n for n, ok in zip(landmarks.names, landmarks.present) if not ok]
        logger.info("%s written (%d/%d), grid %s%s", subject.case_id, index + 1, total, subject.geometry.size,
                    f", outside the field of view: {', '.join(outside)}" if outside else "")
    manifest = DemoManifest(names=template.fiducials.names, training_cases=tuple(case_ids[:n_train]),
                            test_cases=tuple(case_ids[n_train:]), root=out_dir)
    _write_json(out_dir / "dataset.json", {
        "name": "BrainTemplate",
        "landmarks": list(manifest.names),
        "training_cases": list(manifest.training_cases),
        "test_cases": list(manifest.test_cases),
        "seed": seed,
        "spacing_mm": list(spacing),
        "margin_mm": margin_mm,
        "generator": GENERATOR,
        "licence": template.licence,
    })
    logger.info("brain dataset written in %.1f s", time.perf_counter() - start)
    return manifest


def generate_brain_dataset(
    out_dir: Path,
    *,
    template_cache: Path,
    n_train: int = 20,
    n_test: int = 8,
    seed: int = 0,
    spacing_mm: float | Sequence[float] = 2.5,
    margin_mm: float | None = None,
    n_absent: int = 0,
    rater_jitter_mm: float = 0.6,
) -> DemoManifest:
    """Fetch the template into ``template_cache`` (unless cached there) and write the dataset from it."""
    return write_brain_dataset(
        out_dir,
        template=fetch_brain_template(template_cache),
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        spacing_mm=spacing_mm,
        margin_mm=margin_mm,
        n_absent=n_absent,
        rater_jitter_mm=rater_jitter_mm,
    )
