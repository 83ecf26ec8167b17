"""Landmarks as label blobs: the integer encoding that survives nnU-Net's resampling and augmentation."""

from __future__ import annotations

import logging

import numpy as np

from nnlandmark.landmarks import ImageGeometry, LandmarkSet

log = logging.getLogger(__name__)


def paint_landmark_blobs(geometry: ImageGeometry, landmarks: LandmarkSet, *, radius_mm: float) -> np.ndarray:
    """A label map (numpy order [k, j, i]) with a ball of label i+1 around each present landmark i.

    The ball is measured in millimetres, so it stays round on anisotropic grids; at least the nearest
    voxel is always painted. Absent landmarks get no blob.
    """
    if radius_mm <= 0:
        raise ValueError(f"blob radius must be positive, got {radius_mm} mm")
    if len(landmarks) > 65534:
        raise ValueError(f"too many landmarks for a uint16 label map: {len(landmarks)}")
    size = np.asarray(geometry.size)
    spacing = np.asarray(geometry.spacing)
    labels = np.zeros(tuple(size[::-1]), dtype=np.uint8 if len(landmarks) < 255 else np.uint16)
    centres = geometry.world_to_index(landmarks.points)
    for label, (name, centre, present) in enumerate(zip(landmarks.names, centres, landmarks.present), start=1):
        if not present:
            continue
        half = np.ceil(radius_mm / spacing).astype(int)
        nearest = np.round(centre).astype(int)
        lo = np.clip(nearest - half, 0, size - 1)
        hi = np.clip(nearest + half, 0, size - 1)
        axes = [np.arange(lo[a], hi[a] + 1) for a in range(3)]
        ii, jj, kk = np.meshgrid(*axes, indexing="ij")
        dist2 = (
            ((ii - centre[0]) * spacing[0]) ** 2
            + ((jj - centre[1]) * spacing[1]) ** 2
            + ((kk - centre[2]) * spacing[2]) ** 2
        )
        inside = dist2 <= radius_mm**2
        if not inside.any():
            inside = dist2 == dist2.min()
        overwritten = labels[kk[inside], jj[inside], ii[inside]]
        if np.any(overwritten):
            log.warning("blob of %s overlaps another landmark's blob; reduce labels.blob_radius_vox", name)
        labels[kk[inside], jj[inside], ii[inside]] = label
    return labels


def blob_radius_mm(spacing: tuple[float, ...], *, radius_vox: float) -> float:
    """Blob radius in mm that spans ``radius_vox`` voxels along the coarsest axis of ``spacing``."""
    return float(radius_vox * max(spacing))
