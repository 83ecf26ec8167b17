"""Dataset sources named in the config (``format: demo | folder``), loaded as checked source cases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnlandmark.dataset_conversion.source_case import SourceCase
from nnlandmark.datasets.folder import load_folder_dataset


@dataclass(frozen=True)
class SourceDataset:
    """The cases of a dataset, its landmark names and its held-out test cases."""

    cases: list[SourceCase]
    names: tuple[str, ...]
    test_cases: tuple[str, ...]


def load_source_dataset(block: Mapping[str, Any], *, source_root: Path) -> SourceDataset:
    """Load the dataset described by one ``datasets.<name>`` config block."""
    fmt = block.get("format")
    if fmt == "demo":
        meta = json.loads((source_root / "dataset.json").read_text())
        raters = {p.name: p for p in sorted((source_root / "raters").glob("*")) if p.is_dir()}
        cases, names = load_folder_dataset(
            source_root / "images", source_root / "landmarks", raters=raters, landmark_names=meta["landmarks"]
        )
        test_cases = tuple(meta["test_cases"])
    elif fmt == "folder":
        raters = {Path(p).name: Path(p) for p in block.get("raters") or []}
        cases, names = load_folder_dataset(
            Path(block["images"]), Path(block["landmarks"]), raters=raters,
            landmark_names=block.get("landmark_names"),
        )
        test_cases = tuple(block.get("test_cases") or [])
    else:
        raise ValueError(f"unknown dataset format {fmt!r}; expected 'demo' or 'folder'")
    known = {c.case_id for c in cases}
    unknown = sorted(set(test_cases) - known)
    if unknown:
        raise ValueError(f"test_cases {', '.join(unknown)} do not exist in the dataset (cases: {len(known)})")
    if not test_cases:
        raise ValueError("the dataset has no test_cases: list the held-out cases under test_cases")
    return SourceDataset(cases, tuple(names), test_cases)
