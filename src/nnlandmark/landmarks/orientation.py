"""One canonical storage orientation: the axis order and flips closest to LPS, without resampling.

Scanners and converters store the same anatomy with its array axes in any order and direction. nnU-Net learns
on arrays as stored, so a head stored with its left-right axis reversed looks mirrored to the network. Every
image is therefore reordered so that its array axes i, j, k point as nearly as possible along L, P and S (the
identity direction where the image is not oblique), as TotalSegmentator and MONAI's ``Orientation`` do.
Only axes are permuted and reversed: voxel values and their physical positions do not change, so landmarks
in LPS millimetres stay valid and predictions need no mapping back.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from nnlandmark.landmarks.geometry import ImageGeometry


@dataclass(frozen=True)
class Reorientation:
    """Canonical ITK axis ``w`` is stored axis ``axes[w]``, reversed where ``flips[w]``."""

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]

    @property
    def is_identity(self) -> bool:
        return self.axes == (0, 1, 2) and not any(self.flips)


def canonical_reorientation(direction: Sequence[float]) -> Reorientation:
    """The axis order and flips that bring a 3-D image with ``direction`` (ITK, row-major) closest to LPS.

    The permutation maximises the summed |cosine| between each canonical axis and the world axis it stands
    for (ties, such as 45 degree obliques, go to the first permutation in lexicographic order).
    """
    cosines = np.asarray(direction, dtype=np.float64).reshape(3, 3)  # column i: where image axis i points
    axes = max(itertools.permutations(range(3)), key=lambda p: sum(abs(cosines[w, p[w]]) for w in range(3)))
    flips = tuple(bool(cosines[w, axes[w]] < 0) for w in range(3))
    return Reorientation(tuple(axes), flips)  # type: ignore[arg-type]


def canonical_geometry(geometry: ImageGeometry) -> ImageGeometry:
    """``geometry`` after :func:`canonical_reorientation`: the same voxels at the same physical places."""
    turn = canonical_reorientation(geometry.direction)
    size = np.asarray(geometry.size)
    cosines = np.asarray(geometry.direction, dtype=np.float64).reshape(3, 3)
    corner = np.array([size[a] - 1 if flip else 0 for a, flip in zip(turn.axes, turn.flips)], dtype=np.float64)
    stored_corner = np.zeros(3)
    stored_corner[list(turn.axes)] = corner
    origin = geometry.index_to_world(stored_corner[None])[0]
    columns = np.stack([cosines[:, a] * (-1.0 if flip else 1.0) for a, flip in zip(turn.axes, turn.flips)], axis=1)
    return ImageGeometry(size=tuple(int(size[a]) for a in turn.axes),
                         spacing=tuple(float(geometry.spacing[a]) for a in turn.axes),
                         origin=tuple(float(o) for o in origin), direction=tuple(float(c) for c in columns.ravel()))


def reorient_numpy(array: np.ndarray, turn: Reorientation) -> np.ndarray:
    """A (..., z, y, x) array (numpy order: ITK axes reversed, leading channel axes kept) reordered by ``turn``."""
    lead = array.ndim - 3
    itk_axis = [lead + 2 - a for a in range(3)]  # ITK axis a sits at numpy axis lead + 2 - a
    order = list(range(lead)) + [itk_axis[turn.axes[2 - n]] for n in range(3)]
    out = np.transpose(array, order)
    flipped = [lead + 2 - w for w in range(3) if turn.flips[w]]
    return np.ascontiguousarray(np.flip(out, axis=flipped) if flipped else out)


def canonical_image(image: sitk.Image) -> sitk.Image:
    """``image`` stored in the canonical orientation (a copy; the same image where it already is)."""
    geometry = ImageGeometry.from_image(image)
    turn = canonical_reorientation(geometry.direction)
    if turn.is_identity:
        return image
    out = sitk.GetImageFromArray(reorient_numpy(sitk.GetArrayFromImage(image), turn),
                                 isVector=image.GetNumberOfComponentsPerPixel() > 1)
    target = canonical_geometry(geometry)
    out.SetSpacing(target.spacing)
    out.SetOrigin(target.origin)
    out.SetDirection(target.direction)
    return out


def canonical_nnunet_input(data: np.ndarray, properties: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """nnU-Net reader output ``(data (C, z, y, x), properties)`` in the canonical orientation.

    ``properties`` needs SimpleITK's ``sitk_stuff`` (spacing, origin, direction); nnU-Net's ``spacing`` (array
    order) follows the new axes.
    """
    stuff = properties["sitk_stuff"]
    geometry = ImageGeometry(size=tuple(int(s) for s in data.shape[1:][::-1]), spacing=tuple(stuff["spacing"]),
                             origin=tuple(stuff["origin"]), direction=tuple(stuff["direction"]))
    turn = canonical_reorientation(geometry.direction)
    if turn.is_identity:
        return data, properties
    target = canonical_geometry(geometry)
    out = dict(properties)
    out["sitk_stuff"] = {**stuff, "spacing": target.spacing, "origin": target.origin, "direction": target.direction}
    out["spacing"] = [abs(s) for s in target.spacing[::-1]]
    return reorient_numpy(data, turn), out
