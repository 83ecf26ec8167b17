"""A user's own dataset as folders: images/<case>.<ext>, landmarks/<case>.<ext>, optional rater folders."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnlandmark.dataset_conversion.source_case import SourceCase
from nnlandmark.landmarks import ImageGeometry, LandmarkError, LandmarkSet, read_landmarks

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
LANDMARK_SUFFIXES = (".mrk.json", ".fcsv", ".json", ".csv")


def split_suffix(path: Path, suffixes: Sequence[str]) -> tuple[str, str] | None:
    """(case id, suffix) when ``path`` ends with one of ``suffixes``, else None."""
    for suffix in suffixes:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)], suffix
    return None


def index_folder(folder: Path, suffixes: Sequence[str], *, what: str) -> dict[str, Path]:
    """Map case id -> file for the files of ``folder`` with a known suffix; duplicates are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist; check the dataset's paths in the config")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        parsed = split_suffix(path, suffixes)
        if parsed is None or not path.is_file():
            continue
        case_id, _ = parsed
        if case_id in found:
            raise ValueError(f"two {what} files for case {case_id!r}: {found[case_id].name} and {path.name} in {folder}")
        found[case_id] = path
    if not found:
        raise FileNotFoundError(f"no {what} files ({', '.join(suffixes)}) in {folder}")
    return found


def load_folder_dataset(
    images: Path,
    landmarks: Path,
    *,
    raters: Mapping[str, Path] | None = None,
    landmark_names: Sequence[str] | None = None,
) -> tuple[list[SourceCase], tuple[str, ...]]:
    """Read and check a folder dataset; returns its cases and the landmark names in order."""
    image_files = index_folder(images, IMAGE_SUFFIXES, what="image")
    landmark_files = index_folder(landmarks, LANDMARK_SUFFIXES, what="landmark")
    no_landmarks = sorted(set(image_files) - set(landmark_files))
    no_image = sorted(set(landmark_files) - set(image_files))
    if no_image:
        raise FileNotFoundError(
            f"landmark file without image: {', '.join(landmark_files[c].name for c in no_image)} "
            f"(no matching <case>{{{','.join(IMAGE_SUFFIXES)}}} in {images})"
        )
    if no_landmarks:
        raise FileNotFoundError(
            f"missing landmark file for image: {', '.join(image_files[c].name for c in no_landmarks)} "
            f"(expected <case>{{{','.join(LANDMARK_SUFFIXES)}}} in {landmarks})"
        )
    sets = {case: read_landmarks(path) for case, path in landmark_files.items()}
    names = tuple(landmark_names) if landmark_names else next(iter(sets.values())).names
    cases = []
    for case_id in sorted(image_files):
        reference = checked_landmarks(sets[case_id], names, source=landmark_files[case_id])
        check_inside(reference, ImageGeometry.from_file(image_files[case_id]), source=landmark_files[case_id])
        case_raters = {}
        for rater, folder in (raters or {}).items():
            rater_files = index_folder(folder, LANDMARK_SUFFIXES, what=f"rater {rater!r} landmark")
            if case_id in rater_files:
                path = rater_files[case_id]
                case_raters[rater] = checked_landmarks(read_landmarks(path), names, source=path)
        cases.append(SourceCase(case_id, image_files[case_id], reference, case_raters))
    return cases, names


def checked_landmarks(landmarks: LandmarkSet, names: Sequence[str], *, source: Path) -> LandmarkSet:
    """Reorder to ``names``; unknown names are an error, missing names become absent (with a log line)."""
    unknown = sorted(set(landmarks.names) - set(names))
    if unknown:
        raise LandmarkError(
            f"{source}: landmark names {', '.join(unknown)} are not among the dataset's names "
            f"({', '.join(names)}); rename them or list them in the dataset's landmark_names"
        )
    missing = [n for n in names if n not in landmarks.names]
    if missing:
        log.info("%s: %s not listed, taken as absent", source, ", ".join(missing))
    return landmarks.reorder(names)


def check_inside(landmarks: LandmarkSet, geometry: ImageGeometry, *, source: Path) -> None:
    """Every present landmark must lie inside its image."""
    inside = geometry.contains_index(geometry.world_to_index(landmarks.points))
    outside = [n for n, ok, present in zip(landmarks.names, inside, landmarks.present) if present and not ok]
    if outside:
        raise LandmarkError(
            f"{source}: landmarks {', '.join(outside)} lie outside the image; check the file's coordinate "
            "system (RAS vs LPS) and that it belongs to this image"
        )
