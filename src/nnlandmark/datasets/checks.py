"""Checks before anything trains: readable images, positive spacing, consistent names, landmarks inside."""

from __future__ import annotations

import difflib
import gzip
import logging
import struct
import zlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import SimpleITK as sitk

from nnlandmark.errors import InputError
from nnlandmark.landmarks import ImageGeometry, LandmarkError, LandmarkSet
from nnlandmark.landmarks.json_io import RAS_FLIP

log = logging.getLogger(__name__)

DIRECTION_TOLERANCE = 1e-4


class DatasetError(InputError):
    """A dataset cannot be used as it is; the message names the file or case and what to do."""


class MissingFileError(DatasetError, FileNotFoundError):
    """A file or folder the dataset needs does not exist (also a FileNotFoundError)."""


PLAUSIBLE_SPACING_MM = (0.01, 50.0)
"""Voxel spacings outside this range (mm) are a header's unit error, not a CT or MRI scan."""


def check_spacing(spacing: Sequence[float], *, source: Path | str, header: str = "") -> None:
    """Every spacing value must be a positive finite number; ``header`` says where the values were read."""
    values = [float(s) for s in spacing]
    if len(values) == 3 and all(np.isfinite(values)) and min(values) > 0 and not (
            PLAUSIBLE_SPACING_MM[0] <= min(values) and max(values) <= PLAUSIBLE_SPACING_MM[1]):
        where = f" in its {header}" if header else ""
        message = (
            f"{source}: implausible spacing {[round(v, 6) for v in values]} mm{where}: a CT or MRI voxel is "
            f"{PLAUSIBLE_SPACING_MM[0]:g}-{PLAUSIBLE_SPACING_MM[1]:g} mm wide; fix the header's spacing (a unit "
            "error, such as micrometres or metres?) before converting"
        )
        raise DatasetError(message)
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        where = f" in its {header}" if header else ""
        shown = [round(v, 6) for v in values]  # a float32 header's 0.9 is 0.8999999761581421
        message = (
            f"{source}: zero or negative spacing {shown}{where}; fix the image header's spacing "
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


def _sheared(path: Path, detail: str) -> DatasetError:
    message = (
        f"{path}: sheared (non-orthogonal) image axes ({detail}); ITK would straighten them when writing "
        "NIfTI, moving voxels away from their landmarks. Resample the image onto an orthogonal grid "
        "(e.g. 3D Slicer's Resample Scalar Volume) and save it again"
    )
    return DatasetError(message)


def read_image(path: Path) -> sitk.Image:
    """The image at ``path``, or a DatasetError saying it is unreadable."""
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise _unreadable(path, err) from None


# Header size -> (struct format, byte offset) of dim, bitpix, pixdim and vox_offset, for NIfTI-1 and NIfTI-2.
_NIFTI_LAYOUTS = {
    348: (("8h", 40), ("h", 72), ("8f", 76), ("f", 108)),
    540: (("8q", 16), ("h", 14), ("8d", 104), ("q", 168)),
}


class NiftiHeader(NamedTuple):
    """The fields of a NIfTI-1 or NIfTI-2 header that ITK reads without complaint when they are wrong."""

    dims: tuple[int, ...]
    bitpix: int
    pixdim: tuple[float, ...]
    offset: int


def parse_nifti_header(header: bytes) -> NiftiHeader | None:
    """The header fields of a NIfTI-1 or NIfTI-2 file's first bytes, or None when they are not NIfTI."""
    for order in "<>":
        size = struct.unpack_from(order + "i", header)[0] if len(header) >= 4 else 0
        if size in _NIFTI_LAYOUTS and len(header) >= size:
            dims, bitpix, pixdim, offset = (
                struct.unpack_from(order + fmt, header, start) for fmt, start in _NIFTI_LAYOUTS[size]
            )
            return NiftiHeader(dims, bitpix[0], pixdim, int(offset[0]))
    return None


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115


def nifti_spacing(path: Path) -> tuple[float, ...] | None:
    """The voxel spacing (pixdim 1-3) a NIfTI header holds; ITK reads a zero or NaN there as 1 mm."""
    try:
        with _open(path) as handle:
            header = parse_nifti_header(handle.read(540))
    except (OSError, EOFError, zlib.error):
        return None  # reading the voxels names the damage
    return None if header is None else tuple(float(v) for v in header.pixdim[1:4])


def nifti_problem(path: Path) -> str | None:
    """Why a NIfTI file is truncated or corrupt, or None; ITK reads such files without complaint."""
    try:
        with _open(path) as handle:
            first = handle.read(540)
            size = len(first) + sum(len(chunk) for chunk in iter(lambda: handle.read(1 << 20), b""))
    except (OSError, EOFError, zlib.error) as err:
        return f"corrupt or truncated compressed data: {err}"
    header = parse_nifti_header(first)
    if header is None:
        return None
    dims = header.dims
    voxels = int(np.prod([max(int(d), 1) for d in dims[1 : dims[0] + 1]]))
    expected = header.offset + voxels * int(header.bitpix) // 8
    return f"{size} bytes of image data where its header needs {expected}" if size < expected else None


def check_direction(
    direction: Sequence[float], *, source: Path | str, tolerance: float = DIRECTION_TOLERANCE
) -> None:
    """The direction cosines must be orthonormal: ITK's NIfTI writer silently straightens sheared axes."""
    matrix = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    error = float(np.abs(matrix.T @ matrix - np.eye(3)).max())
    if error <= tolerance:
        return
    norms = np.linalg.norm(matrix, axis=0)
    pairs = ((0, 1), (0, 2), (1, 2))
    cosines = {(a, b): matrix[:, a] @ matrix[:, b] / (norms[a] * norms[b]) for a, b in pairs}
    a, b = max(cosines, key=lambda pair: abs(cosines[pair]))
    angle = float(np.degrees(np.arccos(np.clip(cosines[a, b], -1.0, 1.0))))
    rows = np.array2string(matrix, precision=4, separator=", ").replace("\n", "")
    detail = (
        f"direction {rows}: axes {'ijk'[a]} and {'ijk'[b]} meet at {angle:.2f} degrees, "
        f"max |DᵀD - I| = {error:.2g} > {tolerance:g}"
    )
    raise _sheared(Path(source), detail)


def _read_header(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        if "orthonormal" in str(err):  # ITK refuses a sheared NIfTI sform outright
            raise _sheared(path, "ITK: no orthonormal direction in the NIfTI header") from None
        raise _unreadable(path, err) from None
    return reader


def _check_layout(reader: sitk.ImageFileReader, path: Path) -> None:
    """One 3D volume of one component per voxel."""
    size = "x".join(str(s) for s in reader.GetSize())
    dimension = reader.GetDimension()
    if dimension == 2 or (dimension == 3 and min(reader.GetSize()) == 1):
        message = (
            f"{path}: a 2D image (size {size}); nnLandmark finds landmarks in 3D volumes: convert the "
            "slices to one 3D image, or remove the case and its landmark file"
        )
        raise DatasetError(message)
    if dimension != 3:
        message = (
            f"{path}: a {dimension}D image (size {size}); nnLandmark needs one 3D volume per case: "
            "save the volume that was annotated as its own 3D image"
        )
        raise DatasetError(message)
    components = reader.GetNumberOfComponents()
    if components != 1:
        kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
        message = (
            f"{path}: {components} components per voxel ({kind}: an RGB or vector image); nnLandmark needs "
            "single-channel 3D images: convert it to one grey value per voxel"
        )
        raise DatasetError(message)


def check_image(path: Path, *, read_voxels: bool = True) -> ImageGeometry:
    """The image's geometry after checking its header (and voxels unless ``read_voxels`` is False)."""
    path = Path(path)
    reader = _read_header(path)
    _check_layout(reader, path)
    geometry = ImageGeometry.from_header(reader, source=path)
    if path.name.endswith((".nii", ".nii.gz")):
        header_spacing = nifti_spacing(path)
        if header_spacing is not None:
            check_spacing(header_spacing, source=path, header="NIfTI header (pixdim)")
    check_spacing(geometry.spacing, source=path)
    check_direction(geometry.direction, source=path)
    if read_voxels:
        check_finite(read_image(path), source=path)
        problem = nifti_problem(path) if path.name.endswith((".nii", ".nii.gz")) else None
        if problem:
            raise _unreadable(path, ValueError(problem))
    return geometry


def check_finite(image: sitk.Image, *, source: Path) -> None:
    """Every voxel must be a finite number: NaN and infinity would train as 0 and predict nonsense."""
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return
    values = sitk.GetArrayViewFromImage(image)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        message = (
            f"{source}: {bad / values.size:.1%} of its voxels ({bad} of {values.size}) are not finite numbers (NaN "
            "or infinite); fill them with the background value and save the image again, or remove the case"
        )
        raise DatasetError(message)


def check_not_at_origin(landmarks: LandmarkSet, *, source: Path) -> None:
    """A present landmark exactly at (0, 0, 0) is how some tools write a missing point: ask, don't guess."""
    at_origin = [n for n, p, present in zip(landmarks.names, landmarks.points, landmarks.present)
                 if present and np.all(p == 0.0)]
    if at_origin:
        message = (
            f"{source}: {', '.join(at_origin)} lies exactly at (0, 0, 0), which is how some tools write a missing "
            "point; if it is missing, mark it absent (a present column of 0 in a .csv, position_status "
            '"missing" in a .mrk.json) or leave it out of the file'
        )
        raise LandmarkError(message)


def check_trainable(landmarks: Mapping[str, LandmarkSet], names: Sequence[str]) -> None:
    """Every landmark must be present in some training case (its channel could never learn); a training case
    without any present landmark, and a landmark present in fewer than half of the cases, are worth a warning."""
    if not landmarks:
        return
    present = np.array([landmarks[case].reorder(names).present for case in sorted(landmarks)])
    never = [n for n, seen in zip(names, present.any(axis=0)) if not seen]
    if never:
        message = (
            f"{', '.join(never)} {'is' if len(never) == 1 else 'are'} absent in every training case, so "
            f"{'its channel' if len(never) == 1 else 'their channels'} could never learn; annotate "
            f"{'it' if len(never) == 1 else 'them'} in some training case, or list only the other landmarks "
            "in the dataset's landmark_names"
        )
        raise DatasetError(message)
    empty = [case for case, row in zip(sorted(landmarks), present) if not row.any()]
    if empty:
        log.warning("%d training case(s) have every landmark absent: %s; they only teach where landmarks are not",
                    len(empty), ", ".join(empty))
    for name, count in zip(names, present.sum(axis=0)):
        if 2 * count < len(landmarks):
            missing = [case for case, row in zip(sorted(landmarks), present[:, names.index(name)]) if not row]
            log.warning("%s is present in only %d of %d training cases (absent in %s); if that name is a typo, "
                        "fix it, or leave it out with the dataset's landmark_names", name, count, len(landmarks),
                        ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))


def reference_names(
    sets: Mapping[str, LandmarkSet], files: Mapping[str, Path]
) -> tuple[tuple[str, ...], Path]:
    """The names of the case with the most landmarks (first in case order on ties), and its file."""
    best = max(sorted(sets), key=lambda case: len(sets[case]))
    return sets[best].names, files[best]


# What an empty landmark set means in each format, for the message.
_EMPTY = {
    ".mrk.json": 'its markup has no "controlPoints", or an empty list',
    ".json": 'its "landmarks" list is empty',
    ".fcsv": "header lines only, no landmark rows",
    ".csv": "a header line only, no landmark rows",
}


def check_not_empty(landmarks: LandmarkSet, *, source: Path) -> None:
    """A landmark file must list at least one landmark (present or absent)."""
    if len(landmarks):
        return
    detail = next((text for suffix, text in _EMPTY.items() if source.name.lower().endswith(suffix)), "")
    message = (
        f"{source}: no landmarks in the file ({detail}); save the landmarks into it again, or remove the "
        "file (and, for a case's reference landmarks, its image)"
    )
    raise LandmarkError(message)


def _suggest(wrong: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(wrong, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _case_hint(entry: str, known: Collection[str]) -> str:
    """A known case id that ``entry`` names with a file suffix, nnU-Net's _0000 or other capitals."""
    stem = entry.strip().split(".")[0].removesuffix("_0000")
    lowered = {case.lower(): case for case in known}
    match = stem if stem in known else lowered.get(stem.lower())
    return f" ({entry!r}: did you mean {match!r}?)" if match else ""


def check_landmark_names(
    names: Sequence[str], sets: Mapping[str, LandmarkSet], *, folder: Path, key: str = "landmark_names"
) -> None:
    """Configured names must be unique and each must occur in some landmark file."""
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        message = f"{key} lists {', '.join(map(repr, repeated))} more than once; list each name once"
        raise DatasetError(message)
    found = {n for landmarks in sets.values() for n in landmarks.names}
    for name in names:
        if name not in found:
            message = (
                f"{key} entry {name!r} is in no landmark file of {folder}{_suggest(name, found)}; fix its "
                f"spelling or remove it from {key} (the files name: {', '.join(sorted(found))})"
            )
            raise DatasetError(message)


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


def _outside(landmarks: LandmarkSet, geometry: ImageGeometry) -> list[str]:
    inside = geometry.contains_index(geometry.world_to_index(landmarks.points))
    return [n for n, ok, present in zip(landmarks.names, inside, landmarks.present) if present and not ok]


def check_inside(landmarks: LandmarkSet, geometry: ImageGeometry, *, source: Path) -> None:
    """Every present landmark must lie inside its image."""
    outside = _outside(landmarks, geometry)
    if outside:
        points = landmarks.points[landmarks.present]
        flipped = LandmarkSet(landmarks.names, landmarks.points * RAS_FLIP, landmarks.present)
        as_indices = bool(len(points)) and bool(np.all(geometry.contains_index(points)))
        if not _outside(flipped, geometry):
            hint = ("; every point fits it with x and y negated, so the file's coordinate system label is the wrong "
                    "one (RAS values labelled LPS, or LPS values labelled RAS): fix the label")
        elif as_indices:
            hint = ("; every point lies inside it when read as voxel indices (i, j, k): the file looks like it "
                    "holds voxel indices, so write the points in mm (world coordinates) instead")
        else:
            hint = "; check the file's coordinate system (RAS vs LPS) and that it belongs to this image"
        raise LandmarkError(f"{source}: landmarks {', '.join(outside)} lie outside the image{hint}")


def fit_undeclared_system(landmarks: LandmarkSet, geometry: ImageGeometry, *, source: Path) -> LandmarkSet:
    """An .fcsv without a CoordinateSystem line, read as RAS: keep RAS unless only LPS fits the image."""
    as_lps = LandmarkSet(landmarks.names, landmarks.points * RAS_FLIP, landmarks.present)
    outside_ras, outside_lps = _outside(landmarks, geometry), _outside(as_lps, geometry)
    if outside_ras and not outside_lps:
        message = (
            f"{source}: no '# CoordinateSystem' line, and its points fit the image only when read as LPS "
            f"(read as RAS, Slicer's default, {', '.join(outside_ras)} lie outside it); add the line "
            "'# CoordinateSystem = LPS' (or '= RAS', if that is what the file holds) to its header"
        )
        raise LandmarkError(message)
    if outside_ras:
        message = (
            f"{source}: landmarks {', '.join(outside_ras)} lie outside the image, read as RAS (Slicer's "
            "default: the file has no '# CoordinateSystem' line) and as LPS; check that the file belongs to "
            "this image"
        )
        raise LandmarkError(message)
    if not outside_lps:
        log.warning(
            "%s: no '# CoordinateSystem' line and its points fit the image as RAS and as LPS; read as RAS "
            "(Slicer's default): add '# CoordinateSystem = RAS' (or LPS) to the file to be sure",
            source,
        )
    return landmarks


def check_test_cases(test_cases: Sequence[str], known: Collection[str], *, key: str = "test_cases") -> None:
    """Every held-out case must exist, be listed once, and there must be at least one."""
    repeated = sorted({c for c in test_cases if list(test_cases).count(c) > 1})
    if repeated:
        raise DatasetError(f"{key} lists {', '.join(repeated)} more than once; list each held-out case once")
    unknown = sorted(set(test_cases) - set(known))
    if unknown:
        sample = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
        hints = "".join(_case_hint(case, known) for case in unknown[:3])
        message = (
            f"{key} entries {', '.join(unknown)} do not exist in the dataset ({len(known)} cases: {sample})"
            f"{hints}; fix the case ids under {key}"
        )
        raise DatasetError(message)
    if not test_cases:
        raise DatasetError(f"the dataset has no {key}: list the held-out cases under {key}")


def check_fold_count(n_train: int, num_folds: int, *, n_test: int, key: str = "train.num_folds") -> None:
    """Cross-validation needs at least one validation case per fold."""
    if n_train >= num_folds:
        return
    fix = f"lower {key} to {n_train}" if n_train >= 2 else "add training cases"
    message = (
        f"{key} is {num_folds}, but the dataset has only {n_train} training cases (and {n_test} test_cases); "
        f"{num_folds}-fold cross-validation needs {num_folds}: {fix}, or hold out fewer test_cases"
    )
    raise DatasetError(message)
