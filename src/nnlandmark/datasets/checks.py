"""Checks before anything trains: readable images, positive spacing, consistent names, landmarks inside."""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnlandmark.landmarks import ImageGeometry, LandmarkError, LandmarkSet

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset cannot be used as it is; the message names the file or case and what to do."""


def check_spacing(spacing: Sequence[float], *, source: Path | str) -> None:
    """Every spacing value must be a positive finite number."""
    values = [float(s) for s in spacing]
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        message = (
            f"{source}: zero or negative spacing {values}; fix the image header's spacing "
            "(or the dataset's spacing file) before converting"
        )
        raise DatasetError(message)


def _unreadable(path: Path, err: Exception) -> DatasetError:
    detail = " ".join(str(err).split())[:300]
    message = (
        f"{path}: unreadable image ({detail}); re-export or re-download it, or remove the case "
        "and its landmark file"
    )
    return DatasetError(message)


def read_image(path: Path) -> sitk.Image:
    """The image at ``path``, or a DatasetError saying it is unreadable."""
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise _unreadable(path, err) from None


def nifti_problem(path: Path) -> str | None:
    """Why a NIfTI file is truncated or corrupt, or None; ITK reads such files without complaint."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(540)
            size = len(header) + sum(len(chunk) for chunk in iter(lambda: handle.read(1 << 20), b""))
    except (OSError, EOFError, zlib.error) as err:
        return f"corrupt or truncated compressed data: {err}"
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:  # NIfTI-1
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix, offset = struct.unpack(order + "h", header[72:74])[0], struct.unpack(order + "f", header[108:112])[0]
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:  # NIfTI-2
            dims = struct.unpack(order + "8q", header[16:80])
            bitpix, offset = struct.unpack(order + "h", header[14:16])[0], struct.unpack(order + "q", header[168:176])[0]
            break
    else:
        return None
    expected = int(offset) + int(np.prod([max(int(d), 1) for d in dims[1 : dims[0] + 1]])) * int(bitpix) // 8
    return f"{size} bytes of image data where its header needs {expected}" if size < expected else None


def check_image(path: Path, *, read_voxels: bool = True) -> ImageGeometry:
    """The image's geometry after reading it (header, and voxels unless ``read_voxels`` is False)."""
    try:
        geometry = ImageGeometry.from_file(path)
    except ValueError as err:
        raise _unreadable(path, err) from None
    check_spacing(geometry.spacing, source=path)
    if read_voxels:
        read_image(path)
        problem = nifti_problem(path) if path.name.endswith((".nii", ".nii.gz")) else None
        if problem:
            raise _unreadable(path, ValueError(problem))
    return geometry


def reference_names(sets: Mapping[str, LandmarkSet], files: Mapping[str, Path]) -> tuple[tuple[str, ...], Path]:
    """The names of the case with the most landmarks (first in case order on ties), and its file."""
    best = max(sorted(sets), key=lambda case: len(sets[case]))
    return sets[best].names, files[best]


def checked_landmarks(
    landmarks: LandmarkSet, names: Sequence[str], *, source: Path, reference: Path | str | None = None
) -> LandmarkSet:
    """Reorder to ``names``; unknown names are an error, missing names become absent (with a log line)."""
    unknown = sorted(set(landmarks.names) - set(names))
    if unknown:
        where = f"{reference}'s names" if reference else "the dataset's names"
        message = (
            f"{source}: inconsistent landmark names across cases: {', '.join(unknown)} not among {where} "
            f"({', '.join(names)}); rename them, or list every name in the dataset's landmark_names"
        )
        raise LandmarkError(message)
    missing = [n for n in names if n not in landmarks.names]
    if missing:
        log.info("%s: %s not listed, taken as absent", source, ", ".join(missing))
    return landmarks.reorder(names)


def check_inside(landmarks: LandmarkSet, geometry: ImageGeometry, *, source: Path) -> None:
    """Every present landmark must lie inside its image."""
    inside = geometry.contains_index(geometry.world_to_index(landmarks.points))
    outside = [n for n, ok, present in zip(landmarks.names, inside, landmarks.present) if present and not ok]
    if outside:
        message = (
            f"{source}: landmarks {', '.join(outside)} lie outside the image; check the file's coordinate "
            "system (RAS vs LPS) and that it belongs to this image"
        )
        raise LandmarkError(message)


def check_test_cases(test_cases: Sequence[str], known: Collection[str], *, key: str = "test_cases") -> None:
    """Every held-out case must exist, and there must be at least one."""
    unknown = sorted(set(test_cases) - set(known))
    if unknown:
        sample = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
        message = (
            f"{key} entries {', '.join(unknown)} do not exist in the dataset ({len(known)} cases: {sample}); "
            f"fix the case ids under {key}"
        )
        raise DatasetError(message)
    if not test_cases:
        raise DatasetError(f"the dataset has no {key}: list the held-out cases under {key}")
