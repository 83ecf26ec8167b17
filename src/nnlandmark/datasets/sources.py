"""Dataset sources named in the config (``format: demo | folder | mml | mml_complete | afids``), as checked cases."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnlandmark.dataset_conversion.source_case import SourceCase
from nnlandmark.datasets.afids import prepare_afids
from nnlandmark.datasets.checks import DatasetError, check_test_cases
from nnlandmark.datasets.folder import load_folder_dataset
from nnlandmark.datasets.folder_inputs import rater_folders
from nnlandmark.datasets.mml import prepare_mml
from nnlandmark.datasets.splits import PaperSplit

log = logging.getLogger(__name__)

# Formats whose source folder (images/, landmarks/, raters/, dataset.json) a workflow rule writes first.
PREPARED_FORMATS = ("demo", "mml", "mml_complete", "afids")


@dataclass(frozen=True)
class SourceDataset:
    """The cases of a dataset, its landmark names and its held-out test cases."""

    cases: list[SourceCase]
    names: tuple[str, ...]
    test_cases: tuple[str, ...]


def load_source_dataset(block: Mapping[str, Any], *, source_root: Path) -> SourceDataset:
    """Load the dataset described by one ``datasets.<name>`` config block."""
    fmt = block.get("format")
    if fmt in PREPARED_FORMATS:
        meta = json.loads((source_root / "dataset.json").read_text())
        raters = {p.name: p for p in sorted((source_root / "raters").glob("*")) if p.is_dir()}
        cases, names = load_folder_dataset(
            source_root / "images", source_root / "landmarks", raters=raters, landmark_names=meta["landmarks"]
        )
        test_cases = tuple(meta["test_cases"])
    elif fmt == "folder":
        missing = [key for key in ("images", "landmarks") if not block.get(key)]
        if missing:
            message = f"format: folder needs {' and '.join(missing)}: (folders of <case> files) in its block"
            raise DatasetError(message)
        test_cases = case_list(block.get("test_cases"), key="test_cases")
        cases, names = load_folder_dataset(
            Path(block["images"]), Path(block["landmarks"]), raters=rater_folders(block.get("raters")),
            landmark_names=case_list(block.get("landmark_names"), key="landmark_names"),
            name_column=block.get("landmark_name_column", "auto"),
        )
    else:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of folder, {', '.join(PREPARED_FORMATS)}")
    check_test_cases(test_cases, {c.case_id for c in cases})
    return SourceDataset(cases, tuple(names), test_cases)


def case_list(value: object, *, key: str) -> tuple[str, ...]:
    """A config list of names (test_cases, landmark_names); a bare string is an error, not its letters."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise DatasetError(f"{key} must be a list of names, e.g. {key}: [a, b]; got {value!r}")
    return tuple(value)


def prepare_source(
    block: Mapping[str, Any], download: Mapping[str, Any], out_dir: Path, *, split: str | Path | None = None
) -> Path:
    """Write a downloaded benchmark (``download``: the manifest of the download step) as an own-data folder."""
    fmt = block.get("format")
    paper = PaperSplit.from_file(split) if split else None
    if fmt in ("mml", "mml_complete"):
        return prepare_mml(Path(download["release"]), out_dir, complete_only=fmt == "mml_complete", split=paper)
    if fmt == "afids":
        for reason in (download.get("skipped") or {}).values():
            log.warning("%s", reason)
        roots = {source: Path(root) for source, root in download["sources"].items()}
        return prepare_afids(roots, out_dir, split=paper, test_cases=block.get("test_cases") or ())
    raise DatasetError(f"format {fmt!r} is not a downloaded benchmark; expected mml, mml_complete or afids")
