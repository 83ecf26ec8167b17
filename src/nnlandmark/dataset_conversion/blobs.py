"""Landmarks as label blobs: the integer encoding that survives nnU-Net's resampling and augmentation.

The trainer takes each landmark's training centre as the centroid of its blob's voxels, so a blob must be
centred on its landmark. Each blob is a ball of ``radius_vox`` voxels at the (estimated) target spacing,
an ellipsoid in millimetres. Where the balls of two landmarks would overlap, each is cut by a slab through
its own landmark, perpendicular to the line between the two and half their distance thick on either side:
the cut keeps the blob point-symmetric about its landmark (the centroid stays put) and the two slabs never
meet (the blobs stay disjoint). What discretisation leaves of a centroid error is then removed by adding
or removing voxels at the blob's rim. Landmarks closer than ``MIN_SEPARATION_VOX`` leave too little room for
two such slabs, so they are painted into different label layers (channels of the label map): a layer never
holds two landmarks that close, whatever their distance, and every landmark keeps its own blob and label.
nnU-Net resamples images whose spacing differs from the target spacing and so draws their blobs again on its
grid: there the centroid carries that grid's discretisation error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nnlandmark.datasets.checks import DatasetError
from nnlandmark.landmarks import ImageGeometry, LandmarkSet

log = logging.getLogger(__name__)

MIN_SEPARATION_VOX = 2.0
"""Present landmarks closer than this (voxels at the target spacing) are painted into different label layers."""
CENTROID_TOLERANCE_VOX = 0.02
"""The rim correction stops once a painted blob's centroid is this close to its landmark."""
MAX_CENTROID_ERROR_VOX = 0.25
"""A painted blob whose centroid stays farther than this from its landmark stops conversion."""
_RIM_VOX = 1.0  # how far beyond the ball the rim correction may add voxels
_PAIR_POOL = 160  # voxels with the longest lever searched for pair moves


@dataclass(frozen=True)
class BlobShape:
    """A ball of ``radius_vox`` voxels at ``target_spacing`` (mm, ITK axis order i, j, k)."""

    radius_vox: float
    target_spacing: tuple[float, float, float]

    def __post_init__(self) -> None:
        if not self.radius_vox > 0:
            raise ValueError(f"blob radius must be positive, got {self.radius_vox} voxels")
        spacing = tuple(float(s) for s in self.target_spacing)
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise ValueError(f"expected 3 positive target spacings, got {self.target_spacing}")
        object.__setattr__(self, "target_spacing", spacing)

    @property
    def semi_axes_mm(self) -> tuple[float, float, float]:
        """The ellipsoid's semi-axes in mm along the image axes i, j, k."""
        return tuple(self.radius_vox * s for s in self.target_spacing)


def estimate_target_spacing(spacings: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Per-axis median of the images' spacings, each in its own ITK axis order (i, j, k).

    Conversion runs before nnU-Net plans, so the 3d_fullres target spacing is not known yet; it is this
    median unless the planner lowers a strongly anisotropic axis to that axis's 10th percentile
    (``ExperimentPlanner.determine_fullres_target_spacing``). nnU-Net takes the median per array axis,
    which is the image axis too (it only transposes all images alike). Where the planner chooses a finer
    spacing, blobs span more target voxels than ``radius_vox`` and landmarks lie more voxels apart than
    the separation check assumed: the checks err on the safe side.
    """
    values = np.asarray(spacings, dtype=np.float64).reshape(-1, 3)
    if values.shape[0] == 0:
        raise ValueError("no image spacings to estimate the target spacing from")
    return tuple(float(v) for v in np.median(values, axis=0))


def paint_landmark_blobs(
    geometry: ImageGeometry, landmarks: LandmarkSet, *, shape: BlobShape, case_id: str = "case"
) -> np.ndarray:
    """A label map (numpy order [k, j, i]) with a blob of label i+1 centred on each present landmark i.

    Absent landmarks get no blob. Raises a DatasetError naming ``case_id`` when two present landmarks are
    closer than ``MIN_SEPARATION_VOX`` target voxels (paint them into different layers:
    :func:`paint_layered_blobs`) or a blob cannot be centred on its landmark.
    """
    if len(landmarks) > 65534:
        raise ValueError(f"too many landmarks for a uint16 label map: {len(landmarks)}")
    close = close_pairs(geometry, landmarks, shape=shape)
    if close:
        raise DatasetError(too_close_message(f"{case_id}: {'; '.join(close)}", shape))
    size = np.asarray(geometry.size)
    scale = np.asarray(geometry.spacing) / np.asarray(shape.target_spacing)  # image voxels -> target voxels
    centres = geometry.world_to_index(landmarks.points)
    present = np.flatnonzero(landmarks.present)
    labels = np.zeros(tuple(size[::-1]), dtype=np.uint8 if len(landmarks) < 255 else np.uint16)
    reach = 2 * (shape.radius_vox + _RIM_VOX)
    for a in present:
        cuts = []
        for b in present[present != a]:
            offset = (centres[b] - centres[a]) * scale
            distance = float(np.linalg.norm(offset))
            if distance < reach:
                cuts.append((offset / distance, distance / 2))
        voxels, error = centred_blob(centres[a], scale, size, radius_vox=shape.radius_vox, cuts=cuts)
        # no voxel lies beyond the outermost voxel centres: a landmark out there is pulled in by that much
        beyond = float(np.linalg.norm((centres[a] - np.clip(centres[a], 0, size - 1)) * scale))
        if beyond > MAX_CENTROID_ERROR_VOX:
            log.warning("%s: %s lies %.2f target voxels beyond the outermost voxel centres; its training "
                        "centre is that much inside", case_id, landmarks.names[a], beyond)
        if error - beyond > MAX_CENTROID_ERROR_VOX:
            raise DatasetError(_uncentred_message(case_id, landmarks, a, error, geometry, shape))
        index = (voxels[:, 2], voxels[:, 1], voxels[:, 0])
        if np.any(labels[index]):
            raise RuntimeError(f"{case_id}: blob of {landmarks.names[a]} overlaps another blob (a bug)")
        labels[index] = a + 1
    return labels


def paint_layered_blobs(
    geometry: ImageGeometry,
    landmarks: LandmarkSet,
    *,
    shape: BlobShape,
    layers: Sequence[int],
    case_id: str = "case",
) -> np.ndarray:
    """(L, k, j, i) label layers: landmark i's blob (label i+1) in layer ``layers[i]``; L = max(layers) + 1.

    Each layer is painted by :func:`paint_landmark_blobs` with the other layers' landmarks taken as absent.
    """
    layer_of = np.asarray(layers, dtype=int)
    if layer_of.shape != (len(landmarks),) or (len(landmarks) and layer_of.min() < 0):
        raise ValueError(f"expected one layer index >= 0 per landmark ({len(landmarks)}), got {list(layers)}")
    n_layers = int(layer_of.max()) + 1 if len(landmarks) else 1
    painted = []
    for layer in range(n_layers):
        in_layer = LandmarkSet(landmarks.names, landmarks.points, landmarks.present & (layer_of == layer))
        painted.append(paint_landmark_blobs(geometry, in_layer, shape=shape, case_id=case_id))
    return np.stack(painted)


def closest_approach_vox(
    landmarks: Mapping[str, LandmarkSet], geometries: Mapping[str, ImageGeometry], *, shape: BlobShape
) -> np.ndarray:
    """(K, K) smallest distance in target voxels between landmarks i and j over the cases where both are present.

    ``inf`` where a pair is never both present (and on the diagonal). ``landmarks`` share one name order.
    """
    k = len(next(iter(landmarks.values()))) if landmarks else 0
    closest = np.full((k, k), np.inf)
    for cid, case_landmarks in landmarks.items():
        geometry = geometries[cid]
        scale = np.asarray(geometry.spacing) / np.asarray(shape.target_spacing)
        present = case_landmarks.present
        points = geometry.world_to_index(np.where(present[:, None], case_landmarks.points, 0.0)) * scale
        distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        both = present[:, None] & present[None, :]
        closest = np.where(both, np.minimum(closest, distance), closest)
    np.fill_diagonal(closest, np.inf)
    return closest


def assign_blob_layers(closest_vox: np.ndarray) -> list[int]:
    """A label layer per landmark such that no two landmarks of one layer ever come within ``MIN_SEPARATION_VOX``.

    Greedy colouring in landmark order: each landmark takes the lowest layer holding none of its close
    neighbours, so datasets without close landmarks keep one layer.
    """
    close = np.asarray(closest_vox) < MIN_SEPARATION_VOX - 1e-6
    layers: list[int] = []
    for i in range(close.shape[0]):
        taken = {layers[j] for j in range(i) if close[i, j]}
        layers.append(next(layer for layer in range(len(layers) + 1) if layer not in taken))
    return layers


def close_pairs(geometry: ImageGeometry, landmarks: LandmarkSet, *, shape: BlobShape) -> list[str]:
    """Pairs of present landmarks closer than ``MIN_SEPARATION_VOX`` target voxels, with their distances."""
    scale = np.asarray(geometry.spacing) / np.asarray(shape.target_spacing)
    names = [n for n, p in zip(landmarks.names, landmarks.present) if p]
    points_mm = landmarks.points[landmarks.present]
    points_vox = geometry.world_to_index(points_mm) * scale
    close = []
    for a in range(len(names)):
        distances = np.linalg.norm(points_vox[a + 1 :] - points_vox[a], axis=1)
        for b in np.flatnonzero(distances < MIN_SEPARATION_VOX - 1e-6) + a + 1:
            mm = float(np.linalg.norm(points_mm[b] - points_mm[a]))
            vox = distances[b - a - 1]
            close.append(f"{names[a]} and {names[b]} are {mm:.2f} mm ({vox:.2f} voxels) apart")
    return close


def too_close_message(pairs: str, shape: BlobShape) -> str:
    """The error for landmarks too close to paint apart; ``pairs`` names the cases, pairs and distances."""
    spacing = ", ".join(f"{s:.3g}" for s in shape.target_spacing)
    return (
        f"landmarks closer than {MIN_SEPARATION_VOX:g} voxels at the estimated target spacing ({spacing}) mm "
        f"share a label layer, so they cannot both keep their training centre on the landmark: {pairs}. "
        "Conversion puts landmarks that come this close into different layers (blob_layers in dataset.json); "
        "convert the dataset again"
    )


def centred_blob(
    centre: np.ndarray,
    scale: np.ndarray,
    size: np.ndarray,
    *,
    radius_vox: float,
    cuts: Sequence[tuple[np.ndarray, float]],
) -> tuple[np.ndarray, float]:
    """Voxels (N, 3; ITK order) of one blob, and their centroid's distance from ``centre`` in target voxels.

    ``centre`` is a continuous ITK index, ``scale`` converts image voxels into target voxels per axis,
    ``cuts`` are (unit direction, half-width) slabs in target voxels. Every constraint is point-symmetric
    about ``centre``, the image border included, so only discretisation moves the centroid; the rim
    correction then adds or removes voxels within one target voxel of the ball's surface.
    """
    reach = radius_vox + _RIM_VOX
    nearest = np.round(centre).astype(int)
    half = np.ceil(reach / scale).astype(int)
    lo = np.clip(nearest - half, 0, size - 1)
    hi = np.clip(nearest + half, 0, size - 1)
    axes = [np.arange(lo[a], hi[a] + 1) for a in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    rel = (grid - centre) * scale
    dist2 = np.einsum("ij,ij->i", rel, rel)
    # the image border as a symmetric box that keeps the blob off the outermost voxel layer: the trainer
    # drops a blob touching its patch's edge as cut (its centroid moved), and a patch at the image's edge
    # would otherwise drop every landmark near the border, which then never trains. A landmark within a
    # voxel and a half of the edge touches it anyway and keeps the whole symmetric box up to the edge.
    inner = np.minimum(centre - 1.0, size - 2.0 - centre)
    border = np.where(inner >= 0.5, inner, np.maximum(np.minimum(centre + 0.5, size - 0.5 - centre), 0.5))
    allowed = np.all(np.abs(grid - centre) <= border, axis=1) & (dist2 <= reach**2)
    for direction, half_width in cuts:
        allowed &= np.abs(rel @ direction) < half_width
    inside = allowed & (dist2 <= radius_vox**2)
    # the rim correction leaves the voxel nearest to the landmark and the ball one voxel inside the rim alone
    core = allowed & ((dist2 <= max(radius_vox - _RIM_VOX, 0.0) ** 2) | np.all(grid == nearest, axis=1))
    inside |= core
    if not allowed.any():
        return grid[:0], float("inf")
    if not inside.any():  # a ball smaller than the voxels around the landmark
        inside = core = allowed & (dist2 == dist2[allowed].min())
    inside = _correct_centroid(rel, inside, allowed, core)
    error = float(np.linalg.norm(rel[inside].mean(axis=0)))
    return grid[inside], error


def _correct_centroid(
    rel: np.ndarray, inside: np.ndarray, allowed: np.ndarray, core: np.ndarray
) -> np.ndarray:
    """Add (allowed, outside) or remove (inside, not core) the voxel or voxel pair that best centres the blob.

    Pairs get a blob out of states no single voxel improves, e.g. two voxel layers of unequal weight whose
    balance needs voxels removed on both sides of the axis at once.
    """
    inside = inside.copy()
    total = rel[inside].sum(axis=0)
    count = int(inside.sum())
    error = float(np.linalg.norm(total / count))
    for _ in range(max(count, 8)):
        if error <= CENTROID_TOLERANCE_VOX:
            break
        moves = np.flatnonzero((allowed & ~inside) | (inside & ~core))
        signs = np.where(inside[moves], -1, 1)
        deltas = rel[moves] * signs[:, None]
        after = np.linalg.norm(total + deltas, axis=1) / np.maximum(count + signs, 1)
        after[count + signs < 1] = np.inf
        chosen = [int(np.argmin(after))] if len(moves) else []
        if not chosen or after[chosen[0]] >= error:
            pool = np.argsort(-np.einsum("ij,ij->i", deltas, deltas))[:_PAIR_POOL]
            pair_total = total + deltas[pool, None] + deltas[None, pool]
            pair_count = np.maximum(count + signs[pool, None] + signs[None, pool], 1)
            pair_after = np.linalg.norm(pair_total, axis=2) / pair_count
            pair_after[count + signs[pool, None] + signs[None, pool] < 1] = np.inf
            np.fill_diagonal(pair_after, np.inf)
            if not pair_after.size or pair_after.min() >= error:
                break
            first, second = np.unravel_index(int(np.argmin(pair_after)), pair_after.shape)
            chosen = [int(pool[first]), int(pool[second])]
        for m in chosen:
            inside[moves[m]] = signs[m] > 0
            total = total + deltas[m]
            count += int(signs[m])
        error = float(np.linalg.norm(total / count))
    return inside


def _uncentred_message(
    case_id: str, landmarks: LandmarkSet, a: int, error: float, geometry: ImageGeometry, shape: BlobShape
) -> str:
    others = [b for b in np.flatnonzero(landmarks.present) if b != a]
    nearest = ""
    if others:
        mm = np.linalg.norm(landmarks.points[others] - landmarks.points[a], axis=1)
        b = others[int(np.argmin(mm))]
        nearest = f" (nearest landmark {landmarks.names[b]}, {mm.min():.2f} mm away)"
    image = ", ".join(f"{s:g}" for s in geometry.spacing)
    target = ", ".join(f"{s:g}" for s in shape.target_spacing)
    off = f"stays {error:.2f} target voxels off" if np.isfinite(error) else "keeps no voxel"
    return (
        f"{case_id}: the label blob of {landmarks.names[a]}{nearest} cannot be centred on it: its centroid "
        f"{off} (at most {MAX_CENTROID_ERROR_VOX:g} allowed). The image's spacing "
        f"({image}) mm against the target spacing ({target}) mm leaves too few voxels between its "
        "neighbours or the image border; resample the image finer or leave the landmark out"
    )
