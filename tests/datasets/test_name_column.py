"""Own data in AFIDs-style .fcsv files (number in label, name in desc) keeps the readable names."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlandmark.datasets.sources import load_source_dataset
from nnlandmark.landmarks import write_landmarks
from nnlandmark.landmarks.fcsv_io import format_fcsv
from tests.datasets.builders import FOLDER_GEOMETRY, folder_landmarks, write_image


def numbered_fcsv(case: int) -> str:
    """The case's landmarks as Slicer writes AFIDs files: label = 1, 2, ...; desc = the name."""
    landmarks = folder_landmarks(case)
    lines = format_fcsv(landmarks).splitlines()
    rows = []
    for number, line in enumerate(lines[3:], start=1):
        fields = line.split(",")
        fields[12] = fields[11]  # desc <- the name
        fields[11] = str(number)  # label <- its number
        rows.append(",".join(fields))
    return "\n".join(lines[:3] + rows) + "\n"


def block(root: Path, **extra: object) -> dict:
    for case in range(3):
        write_image(root / "images" / f"case{case}.nii.gz", FOLDER_GEOMETRY, seed=case)
        (root / "landmarks").mkdir(parents=True, exist_ok=True)
        (root / "landmarks" / f"case{case}.fcsv").write_text(numbered_fcsv(case))
    return {"format": "folder", "dataset_id": 1, "name": "Named", "images": str(root / "images"),
            "landmarks": str(root / "landmarks"), "test_cases": ["case2"], **extra}


@pytest.mark.parametrize(("column", "readable"), [(None, True), ("auto", True), ("desc", True), ("label", False)])
def test_names_follow_the_name_column(tmp_path: Path, column: str | None, readable: bool) -> None:
    extra = {} if column is None else {"landmark_name_column": column}
    source = load_source_dataset(block(tmp_path, **extra), source_root=tmp_path)
    expected = folder_landmarks(0).names
    if readable:
        assert source.names == expected
    else:
        assert source.names == tuple(str(n) for n in range(1, len(expected) + 1))


def test_the_same_files_written_by_name_are_read_identically(tmp_path: Path) -> None:
    named = load_source_dataset(block(tmp_path / "a"), source_root=tmp_path)
    (tmp_path / "b" / "landmarks").mkdir(parents=True)
    plain = block(tmp_path / "b")
    for case in range(3):
        (tmp_path / "b" / "landmarks" / f"case{case}.fcsv").unlink()
        write_landmarks(tmp_path / "b" / "landmarks" / f"case{case}.fcsv", folder_landmarks(case))
    by_label = load_source_dataset(plain, source_root=tmp_path)
    assert named.names == by_label.names
    for ours, theirs in zip(named.cases, by_label.cases):
        assert ours.landmarks.allclose(theirs.landmarks, atol=1e-9)
