"""A user's own dataset as folders: images/<case>.<ext>, landmarks/<case>.<ext>, optional rater folders."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nnlandmark.dataset_conversion.source_case import SourceCase
from nnlandmark.datasets.checks import (
    DatasetError,
    MissingFileError,
    check_image,
    check_inside,
    check_landmark_names,
    check_not_at_origin,
    check_not_empty,
    checked_landmarks,
    fit_undeclared_system,
    reference_names,
)
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, declares_coordinate_system, read_landmarks

log = logging.getLogger(__name__)

MAX_FILE_NAME_BYTES = 255  # ext4, xfs, NTFS, APFS
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
LANDMARK_SUFFIXES = (".mrk.json", ".fcsv", ".json", ".csv")


def split_suffix(path: Path, suffixes: Sequence[str]) -> tuple[str, str] | None:
    """(case id, suffix) when ``path`` ends with one of ``suffixes``, else None."""
    for suffix in suffixes:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)], suffix
    return None


def index_folder(
    folder: Path,
    suffixes: Sequence[str],
    *,
    what: str,
    key: str | None = None,
    case_id_of: Callable[[str], str] = str,
) -> dict[str, Path]:
    """Map case id -> file for the files of ``folder`` with a known suffix; duplicates are an error.

    ``key`` names the config entry that gave ``folder``, for the messages. ``case_id_of`` turns a file
    name without its suffix into the case id (e.g. drops nnU-Net's ``_0000``).
    """
    folder = Path(folder)
    named = f"{key}: " if key else ""
    if folder.is_file():
        message = (
            f"{named}{folder} is a file, not a folder; set {key or 'it'} to the folder that holds the "
            f"<case>{{{','.join(suffixes)}}} files"
        )
        raise DatasetError(message)
    if not folder.is_dir():
        cwd = Path.cwd()
        message = f"{named}{what} folder {folder} does not exist; check the path (relative to {cwd})"
        raise MissingFileError(message)
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        parsed = split_suffix(path, suffixes)
        if parsed is None:
            capitals = split_suffix(Path(path.name.lower()), suffixes)
            if capitals is not None:
                proper = path.name[: -len(capitals[1])] + capitals[1]
                raise DatasetError(f"{path}: a {what} file whose suffix is written in capitals, which is not "
                                   f"read; rename it to {proper}")
            continue
        if path.is_symlink() and not path.exists():
            raise DatasetError(f"{path}: a broken link (to {os.readlink(path)}); fix the link, or remove it")
        if path.is_dir():
            raise DatasetError(f"{path}: a folder named like a {what} file; the {what} file of case "
                               f"{parsed[0]!r} must be a file")
        if not path.is_file():
            continue
        if len(f"{parsed[0]}_0000.nii.gz".encode()) > MAX_FILE_NAME_BYTES:
            raise DatasetError(f"{path}: the case id ({len(parsed[0].encode())} bytes) is too long: "
                               f"nnU-Net's file names (<case>_0000.nii.gz) would exceed the file system's "
                               f"{MAX_FILE_NAME_BYTES}: shorten the file names")
        case_id = case_id_of(parsed[0])
        if case_id in found:
            first = found[case_id].name
            raise DatasetError(f"two {what} files for case {case_id!r}: {first} and {path.name} in {folder}")
        found[case_id] = path
    if not found:
        raise MissingFileError(f"{named}no {what} files ({', '.join(suffixes)}) in {folder}")
    return found


def read_source_landmarks(path: Path, *, name_column: str = "auto") -> LandmarkSet:
    """A case's landmark file, which must list landmarks (an .fcsv without coordinate system: as RAS;
    named by its ``name_column``)."""
    # fitted_landmarks checks the RAS reading against the image
    landmarks = read_landmarks(path, fcsv_undeclared="RAS", fcsv_name_column=name_column)
    check_not_empty(landmarks, source=path)
    return landmarks


def fitted_landmarks(
    landmarks: LandmarkSet,
    geometry: ImageGeometry,
    names: Sequence[str],
    *,
    source: Path,
    reference: Path | str,
) -> LandmarkSet:
    """``landmarks`` of ``source`` in the order of ``names``, checked to lie inside their image."""
    if not declares_coordinate_system(source):
        landmarks = fit_undeclared_system(landmarks, geometry, source=source)
    landmarks = checked_landmarks(landmarks, names, source=source, reference=reference)
    check_not_at_origin(landmarks, source=source)
    check_inside(landmarks, geometry, source=source)
    return landmarks


def only_listed(sets: Mapping[str, LandmarkSet], names: Sequence[str], *, folder: Path) -> dict[str, LandmarkSet]:
    """``sets`` without the landmarks that ``landmark_names`` does not list; those are named once in the log."""
    listed = set(names)
    unlisted = sorted({n for landmarks in sets.values() for n in landmarks.names} - listed)
    if unlisted:
        log.warning("landmark_names lists %d landmarks; the other %d that the files of %s name are ignored "
                    "(in raters' files too): %s", len(names), len(unlisted), folder, ", ".join(unlisted))
    return {case: landmarks.reorder([n for n in landmarks.names if n in listed]) for case, landmarks in sets.items()}


def load_folder_dataset(
    images: Path,
    landmarks: Path,
    *,
    raters: Mapping[str, Path] | None = None,
    landmark_names: Sequence[str] | None = None,
    name_column: str = "auto",
) -> tuple[list[SourceCase], tuple[str, ...]]:
    """Read and check a folder dataset; returns its cases and the landmark names in order.

    ``name_column`` is the .fcsv column naming the landmarks (label, desc, or auto: see
    :func:`~nnlandmark.landmarks.fcsv_io.choose_name_column`)."""
    image_files = index_folder(images, IMAGE_SUFFIXES, what="image", key="images")
    landmark_files = index_folder(landmarks, LANDMARK_SUFFIXES, what="landmark", key="landmarks")
    no_landmarks = sorted(set(image_files) - set(landmark_files))
    no_image = sorted(set(landmark_files) - set(image_files))
    if no_image:
        raise MissingFileError(
            f"landmark file without image: {', '.join(landmark_files[c].name for c in no_image)} "
            f"(no matching <case>{{{','.join(IMAGE_SUFFIXES)}}} in {images}); add the image or remove the "
            "file"
        )
    if no_landmarks:
        raise MissingFileError(
            f"missing landmark file for image: {', '.join(image_files[c].name for c in no_landmarks)} "
            f"(expected <case>{{{','.join(LANDMARK_SUFFIXES)}}} in {landmarks}); add it or remove the image"
        )
    sets = {case: read_source_landmarks(path, name_column=name_column)
            for case, path in landmark_files.items()}
    reference: Path | str
    if landmark_names:
        check_landmark_names(landmark_names, sets, folder=Path(landmarks))
        names, reference = tuple(landmark_names), "the dataset's landmark_names"
        sets = only_listed(sets, names, folder=Path(landmarks))
    else:
        names, reference = reference_names(sets, landmark_files)
    for rater, folder in (raters or {}).items():
        if Path(folder).resolve() == Path(landmarks).resolve():
            raise DatasetError(f"raters: rater {rater!r} is the reference landmarks folder {landmarks} itself; a "
                               "rater's folder holds another annotation of the same cases: remove it from raters")
    rater_files = {
        rater: index_folder(folder, LANDMARK_SUFFIXES, what=f"rater {rater!r} landmark", key="raters")
        for rater, folder in (raters or {}).items()
    }
    cases = []
    for case_id in sorted(image_files):
        geometry = check_image(image_files[case_id])
        source = landmark_files[case_id]
        reference_set = fitted_landmarks(sets[case_id], geometry, names, source=source,
                                         reference=reference)
        case_raters = {}
        for rater, files in rater_files.items():
            if case_id in files:
                path = files[case_id]
                rated = read_source_landmarks(path, name_column=name_column)
                if landmark_names:
                    rated = rated.reorder([n for n in rated.names if n in names])
                case_raters[rater] = fitted_landmarks(rated, geometry, names, source=path,
                                                      reference=reference)
        cases.append(SourceCase(case_id, image_files[case_id], reference_set, case_raters))
    for rater, files in rater_files.items():
        orphans = sorted(set(files) - set(image_files))
        if orphans:
            log.warning("rater %s: files for unknown cases ignored: %s", rater, ", ".join(orphans))
    return cases, names
