"""MML (mandibular molar landmarks, dental CT) release -> the own-data folder layout, all or complete cases."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnlandmark.datasets.checks import DatasetError, check_direction, check_spacing, read_image
from nnlandmark.datasets.prepared import PreparedWriter
from nnlandmark.datasets.splits import PaperSplit
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, read_voxel_landmarks

log = logging.getLogger(__name__)

# Order of the 14 rows of *_label.npy, as printed by the authors' evaluation (ithet1007/mmld_code,
# code/main_baseline.py): left/right second and third molar crown and root points.
LANDMARK_NAMES: tuple[str, ...] = (
    "L0", "La", "Lb", "Lc", "Ld", "Le", "Lf", "R0", "Ra", "Rb", "Rc", "Rd", "Re", "Rf",
)
SPLITS = ("train", "val", "test")
VOLUME, LABEL, SPACING = "_volume.nrrd", "_label.npy", "_spacing.npy"


def find_release_root(root: Path) -> Path:
    """The folder holding train/, val/ and test/ (the archive unpacks to mmld_dataset/ around them)."""
    root = Path(root)
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    for folder in candidates:
        if all((folder / split).is_dir() for split in SPLITS):
            return folder
    message = (
        f"{root}: no folder with train/, val/ and test/ inside; is this the MML release (mmld_dataset/)? "
        "Point the dataset's source: at the archive or the extracted folder"
    )
    raise DatasetError(message)


def list_cases(release: Path) -> dict[str, tuple[str, Path]]:
    """Case id -> (authors' split, folder), from the *_volume.nrrd files; each needs its label and spacing."""
    cases: dict[str, tuple[str, Path]] = {}
    for split in SPLITS:
        for volume in sorted((release / split).glob(f"*{VOLUME}")):
            case_id = volume.name[: -len(VOLUME)]
            for suffix, what in ((LABEL, "landmark file"), (SPACING, "spacing file")):
                if not (volume.parent / f"{case_id}{suffix}").is_file():
                    message = f"{volume}: missing {what} {case_id}{suffix} beside it; re-extract the release"
                    raise DatasetError(message)
            if case_id in cases:
                message = f"case {case_id} is in both {cases[case_id][0]}/ and {split}/ of {release}; remove one"
                raise DatasetError(message)
            cases[case_id] = (split, volume.parent)
    for split in SPLITS:
        for label in sorted((release / split).glob(f"*{LABEL}")):
            if label.name[: -len(LABEL)] not in cases:
                message = f"{label}: landmark file without image ({label.name[: -len(LABEL)]}{VOLUME} missing)"
                raise DatasetError(message)
    if not cases:
        raise DatasetError(f"{release}: no *{VOLUME} files in {', '.join(SPLITS)}/")
    return cases


def read_spacing(path: Path) -> tuple[float, float, float]:
    """The (i, j, k) spacing in mm from *_spacing.npy."""
    values = np.load(path, allow_pickle=False).astype(np.float64).reshape(-1)
    if values.shape != (3,):
        raise DatasetError(f"{path}: expected 3 spacing values (i, j, k), got {values.shape[0]}: {values.tolist()}")
    check_spacing(values, source=path)
    return tuple(float(v) for v in values)


def read_label(path: Path, geometry: ImageGeometry) -> LandmarkSet:
    """LPS landmarks from *_label.npy: 14 rows of ITK (i, j, k) voxel indices, negative values = absent."""
    indices = np.load(path, allow_pickle=False).astype(np.float64)
    if indices.shape != (len(LANDMARK_NAMES), 3):
        message = f"{path}: expected {len(LANDMARK_NAMES)}x3 voxel indices, got shape {indices.shape}"
        raise DatasetError(message)
    bad = [i for i, row in enumerate(indices) if not np.all(np.isfinite(row))]
    if bad:
        message = (
            f"{path}: NaN or infinite coordinate in row {bad[0] + 1} ({LANDMARK_NAMES[bad[0]]}); "
            "mark an absent landmark with negative values, as the release does"
        )
        raise DatasetError(message)
    return read_voxel_landmarks(indices, LANDMARK_NAMES, geometry)


def read_case(folder: Path, case_id: str) -> tuple[sitk.Image, LandmarkSet]:
    """The case's image with the spacing of *_spacing.npy (origin and direction kept) and its landmarks."""
    volume = folder / f"{case_id}{VOLUME}"
    image = read_image(volume)  # its header spacing may be wrong: the spacing file is checked instead
    check_direction(image.GetDirection(), source=volume)  # NIfTI would straighten sheared axes
    spacing = read_spacing(folder / f"{case_id}{SPACING}")
    header = image.GetSpacing()
    if not np.allclose(header, spacing, rtol=1e-4):
        log.info("%s: header spacing %s replaced by %s from %s%s", case_id, header, spacing, case_id, SPACING)
    image.SetSpacing(spacing)
    return image, read_label(folder / f"{case_id}{LABEL}", ImageGeometry.from_image(image))


def _is_complete(label: Path) -> bool:
    """All 14 rows present (no negative value); read from the label file alone, without the volume."""
    indices = np.asarray(np.load(label, allow_pickle=False))
    return indices.shape == (len(LANDMARK_NAMES), 3) and not np.any(indices < 0)


def prepare_mml(
    release: Path,
    out_dir: Path,
    *,
    complete_only: bool,
    split: PaperSplit | None = None,
) -> Path:
    """Write the release as an own-data folder (images/, landmarks/, dataset.json); returns dataset.json.

    All cases: the authors' test/ folder is held out, train/ and val/ form the training pool. Complete
    cases (all 14 landmarks present): the train/test assignment of ``split``, which must name exactly
    the complete cases.
    """
    release = find_release_root(release)
    cases = list_cases(release)
    log.info("MML release %s: %d cases (%s)", release, len(cases),
             ", ".join(f"{s} {sum(v[0] == s for v in cases.values())}" for s in SPLITS))
    selected = {c: v for c, v in cases.items() if not complete_only or _is_complete(v[1] / f"{c}{LABEL}")}
    if split is not None:
        split.check_cases(selected, what="complete MML cases" if complete_only else "MML cases")
        test_cases = sorted(c for c in selected if c in set(split.test))
    else:
        test_cases = sorted(c for c, (group, _) in selected.items() if group == "test")
    writer = PreparedWriter(Path(out_dir), landmark_names=LANDMARK_NAMES)
    try:
        for number, (case_id, (group, folder)) in enumerate(sorted(selected.items()), start=1):
            image, landmarks = read_case(folder, case_id)
            writer.add(case_id, image, landmarks,
                       info={"authors_split": group, "landmarks": str(folder / f"{case_id}{LABEL}")})
            if number % 50 == 0:
                log.info("converted %d/%d MML cases", number, len(selected))
        return writer.finish(
            name="MML (complete cases)" if complete_only else "MML",
            test_cases=test_cases,
            extra={"release": str(release), "complete_only": complete_only,
                   "split": split.source if split is not None else "authors' test/ folder"},
        )
    except BaseException:
        writer.abort()
        raise
