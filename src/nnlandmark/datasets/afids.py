"""AFIDs (32 anatomical fiducials on T1w MRI) BIDS sources -> the own-data folder layout, with every rater."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.prepared import PreparedWriter
from nnlandmark.datasets.splits import PaperSplit
from nnlandmark.landmarks import LandmarkError, LandmarkSet, read_landmarks

log = logging.getLogger(__name__)

# (description, acronym) of AFID 1..32, as in afids/afids-data other/afids.csv; the descriptions are our names.
FIDUCIALS: tuple[tuple[str, str], ...] = (
    ("AC", "AC"), ("PC", "PC"), ("infracollicular sulcus", "ICS"), ("PMJ", "PMJ"),
    ("superior interpeduncular fossa", "SIPF"), ("R superior LMS", "RSLMS"), ("L superior LMS", "LSLMS"),
    ("R inferior LMS", "RILMS"), ("L inferior LMS", "LILMS"), ("culmen", "CUL"),
    ("intermammillary sulcus", "IMS"), ("R MB", "RMB"), ("L MB", "LMB"), ("pineal gland", "PG"),
    ("R LV at AC", "RLVAC"), ("L LV at AC", "LLVAC"), ("R LV at PC", "RLVPC"), ("L LV at PC", "LLVPC"),
    ("genu of CC", "GENU"), ("splenium of CC", "SPLE"), ("R AL temporal horn", "RALTH"),
    ("L AL temporal horn", "LALTH"), ("R superior AM temporal horn", "RSAMTH"),
    ("L superior AM temporal horn", "LSAMTH"), ("R inferior AM temporal horn", "RIAMTH"),
    ("L inferior AM temporal horn", "LIAMTH"), ("R indusium griseum origin", "RIGO"),
    ("L indusium griseum origin", "LIGO"), ("R ventral occipital horn", "RVOH"), ("L ventral occipital horn", "LVOH"),
    ("R olfactory sulcal fundus", "ROSF"), ("L olfactory sulcal fundus", "LOSF"),
)
LANDMARK_NAMES: tuple[str, ...] = tuple(description for description, _ in FIDUCIALS)
SOURCES = ("AFIDs-HCP", "AFIDs-OASIS", "LHSCPD", "SNSX")
# What a converter needs from a source's BIDS tree (also the download filter for OpenNeuro).
FILES = (
    "dataset_description.json",
    "sub-*/anat/*_T1w.nii.gz",
    "sub-*/anat/*_T1w.nii",
    "derivatives/afids_groundtruth/*.fcsv",
    "derivatives/afids_rater/*.fcsv",
)
GROUND_TRUTH = "derivatives/afids_groundtruth/sub-*/anat/*_desc-groundtruth_afids.fcsv"
_BY_TEXT = {text.lower(): n for n, pair in enumerate(FIDUCIALS, start=1) for text in pair} | {"splenium": 20}
_NUMBERED = re.compile(r"^(?:afid|landmark_?|f-?)?0*(\d+)$", re.IGNORECASE)
# Rater files are named ..._desc-rater<ID>_afids.fcsv; a few use '_' or '-' elsewhere (desc_raterAT, raterAT-afids).
_RATER = re.compile(r"desc[-_](rater[A-Za-z0-9]+)[-_]afids\.fcsv$")


def afid_number(label: str) -> int | None:
    """AFID 1..32 from a .fcsv label: the number itself (AFIDs files), or a description/acronym."""
    text = label.strip()
    numbered = _NUMBERED.match(text)
    number = int(numbered.group(1)) if numbered else _BY_TEXT.get(text.lower())
    return number if number is not None and 1 <= number <= len(FIDUCIALS) else None


def read_afids(path: Path) -> LandmarkSet:
    """An AFIDs .fcsv (coordinate system from its own header) with the fiducials named and ordered 1..32."""
    raw = read_landmarks(path)
    points: dict[str, np.ndarray] = {}
    for label, point, present in zip(raw.names, raw.points, raw.present):
        number = afid_number(label)
        if number is None:
            message = (
                f"{path}: unknown AFID label {label!r}; expected a number 1-{len(FIDUCIALS)} or a fiducial "
                "name (afids-data other/afids.csv)"
            )
            raise LandmarkError(message)
        name = LANDMARK_NAMES[number - 1]
        if name in points:
            raise LandmarkError(f"{path}: duplicate landmark name: AFID {number} ({name}) is listed twice")
        if present:
            points[name] = point
    missing = [n for n in LANDMARK_NAMES if n not in points]
    if missing:
        log.info("%s: %d fiducials not listed, taken as absent: %s", path, len(missing), ", ".join(missing))
    return LandmarkSet.from_points(points, order=LANDMARK_NAMES)


@dataclass(frozen=True)
class AfidsCase:
    """One annotated subject of a source: T1w image, ground-truth fiducials and each rater's file."""

    case_id: str
    image: Path
    ground_truth: Path
    raters: dict[str, Path] = field(default_factory=dict)


def _image_for(ground_truth: Path, root: Path) -> Path:
    subject = ground_truth.parents[1].name
    entities = re.split(r"_(?:space|desc)-", ground_truth.name)[0]  # e.g. sub-C001_acq-MP2RAGE_run-01
    anat = root / subject / "anat"
    for suffix in (".nii.gz", ".nii"):
        if (anat / f"{entities}_T1w{suffix}").is_file():
            return anat / f"{entities}_T1w{suffix}"
    candidates = sorted(anat.glob("*_T1w.nii*")) if anat.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    expected = anat / f"{entities}_T1w.nii.gz"
    problem = "several candidates: " + ", ".join(c.name for c in candidates) if candidates else "no T1w image"
    message = (
        f"missing image for landmark file {ground_truth}: expected {expected} ({problem}); "
        "fetch the source's images or remove the subject's annotations"
    )
    raise DatasetError(message)


def scan_source(root: Path, source: str) -> list[AfidsCase]:
    """The annotated subjects of one source's BIDS tree, as cases ``<source>_<subject>``."""
    root = Path(root)
    truths = sorted(root.glob(GROUND_TRUTH))
    if not truths:
        message = f"{source}: no ground-truth files {GROUND_TRUTH} under {root}; is this the source's BIDS folder?"
        raise DatasetError(message)
    cases = []
    for truth in truths:
        subject = truth.parents[1].name
        raters: dict[str, Path] = {}
        for rater_file in sorted((root / "derivatives" / "afids_rater" / subject / "anat").glob("*.fcsv")):
            match = _RATER.search(rater_file.name)
            if match is None:
                log.warning("%s: not a rater file name (..._desc-rater<ID>_afids.fcsv); ignored", rater_file)
            elif match.group(1) in raters:
                log.warning("%s: second file of %s for %s; keeping %s", rater_file, match.group(1), subject,
                            raters[match.group(1)].name)
            else:
                raters[match.group(1)] = rater_file
        cases.append(AfidsCase(f"{source}_{subject}", _image_for(truth, root), truth, raters))
    images = {p.parents[1].name for p in root.glob("sub-*/anat/*_T1w.nii*")}
    unannotated = sorted(images - {t.parents[1].name for t in truths})
    if unannotated:
        log.info("%s: %d subjects without ground truth left out: %s", source, len(unannotated), ", ".join(unannotated))
    return cases


def prepare_afids(
    roots: Mapping[str, Path],
    out_dir: Path,
    *,
    split: PaperSplit | None = None,
    test_cases: Sequence[str] = (),
) -> Path:
    """Write the sources' annotated subjects as one own-data folder with raters/; returns dataset.json.

    With ``split``, the case list must equal the split's cases of the sources in ``roots`` (a skipped
    source's cases are left out, with a warning) and its train/test assignment is used.
    """
    unknown = sorted(set(roots) - set(SOURCES))
    if unknown:
        raise DatasetError(f"unknown AFIDs sources {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    cases = [case for source in sorted(roots) for case in scan_source(roots[source], source)]
    ids = [c.case_id for c in cases]
    if split is not None:
        available = split.restricted(c for c in split.all if c.split("_", 1)[0] in roots)
        if len(available.all) < len(split.all):
            log.warning("only %d of the published split's %d cases are from available sources (%s); results are "
                        "not comparable to the paper's", len(available.all), len(split.all), ", ".join(sorted(roots)))
        available.check_cases(ids, what=f"AFIDs cases of {', '.join(sorted(roots))}")
        test_cases = [c for c in ids if c in set(available.test)]
    writer = PreparedWriter(Path(out_dir), landmark_names=LANDMARK_NAMES)
    try:
        for case in cases:
            raters = {rater: read_afids(path) for rater, path in case.raters.items()}
            writer.add(case.case_id, case.image, read_afids(case.ground_truth), raters=raters,
                       info={"landmarks": str(case.ground_truth), "image": str(case.image)})
        return writer.finish(name="AFIDs", test_cases=list(test_cases),
                             extra={"sources": {s: str(p) for s, p in sorted(roots.items())},
                                    "split": split.source if split is not None else "test_cases"})
    except BaseException:
        writer.abort()
        raise
