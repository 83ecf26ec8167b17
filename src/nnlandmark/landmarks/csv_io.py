"""Landmark CSV: a `name,x,y,z,present[,confidence]` table in LPS mm; absent rows have empty x, y, z."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from io import StringIO

import numpy as np

from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet

_REQUIRED = ("name", "x", "y", "z")
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_xyz(cells: Sequence[str], *, where: str) -> np.ndarray:
    """Three finite floats from text cells, or a LandmarkError saying what was found at ``where``."""
    try:
        point = np.array([float(cell) for cell in cells], dtype=np.float64)
    except ValueError:
        point = np.zeros(0)
    if point.shape != (3,):
        message = f"{where}: expected 3 numeric coordinates, got {list(cells)!r}"
        raise LandmarkError(message)
    if not np.all(np.isfinite(point)):
        message = (
            f"{where}: NaN or infinite coordinate {list(cells)!r} in a present landmark; "
            "fix it or mark it absent"
        )
        raise LandmarkError(message)
    return point


def check_name(name: str, seen: dict[str, int], *, source: str, line: int) -> None:
    """Reject an empty or repeated landmark name; remember the line ``name`` was first seen on."""
    if not name:
        message = f"{source}:{line}: empty landmark name; every row needs a name"
        raise LandmarkError(message)
    if name in seen:
        message = (
            f"{source}:{line}: duplicate landmark name {name!r} (first on line {seen[name]}); "
            "names must be unique"
        )
        raise LandmarkError(message)
    seen[name] = line


def parse_csv(text: str, *, source: str = "<string>") -> LandmarkSet:
    """A LandmarkSet from landmark CSV text; ``source`` names the file in error messages."""
    reader = csv.reader(StringIO(text))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [c for c in _REQUIRED if c not in header]
            if missing:
                message = (
                    f"{source}:{reader.line_num}: header {row!r} lacks column(s) {', '.join(missing)}; "
                    "expected name,x,y,z,present[,confidence]"
                )
                raise LandmarkError(message)
        else:
            rows.append((reader.line_num, row))
    if header is None:
        message = f"{source}: no header line; expected name,x,y,z,present[,confidence]"
        raise LandmarkError(message)

    column = {name: i for i, name in enumerate(header)}
    names: list[str] = []
    points = np.full((len(rows), 3), np.nan)
    present = np.zeros(len(rows), dtype=bool)
    confidence = np.full(len(rows), np.nan)
    seen: dict[str, int] = {}
    for i, (line, row) in enumerate(rows):
        where = f"{source}:{line}"
        if len(row) != len(header):
            message = f"{where}: expected {len(header)} columns ({','.join(header)}), got {len(row)}: {row!r}"
            raise LandmarkError(message)
        name = row[column["name"]].strip()
        check_name(name, seen, source=source, line=line)
        names.append(name)
        xyz = [row[column[axis]].strip() for axis in "xyz"]
        flag = row[column["present"]].strip().lower() if "present" in column else ""
        if flag and flag not in _FLAGS:
            message = f"{where}: present must be 1 or 0, got {flag!r}"
            raise LandmarkError(message)
        present[i] = _FLAGS[flag] if flag else any(xyz)
        if present[i]:
            points[i] = parse_xyz(xyz, where=where)
        cell = row[column["confidence"]].strip() if "confidence" in column else ""
        if cell:
            try:
                confidence[i] = float(cell)
            except ValueError:
                message = f"{where}: confidence must be a number or empty, got {cell!r}"
                raise LandmarkError(message) from None
    return LandmarkSet(tuple(names), points, present, confidence if "confidence" in column else None)


def format_csv(landmarks: LandmarkSet) -> str:
    """Landmark CSV text for ``landmarks`` (LPS mm, full float precision)."""
    buffer = StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    has_confidence = landmarks.confidence is not None
    writer.writerow(["name", "x", "y", "z", "present"] + (["confidence"] if has_confidence else []))
    for i, name in enumerate(landmarks.names):
        is_present = bool(landmarks.present[i])
        xyz = [repr(float(v)) for v in landmarks.points[i]] if is_present else ["", "", ""]
        row = [name, *xyz, "1" if is_present else "0"]
        if landmarks.confidence is not None:
            value = float(landmarks.confidence[i])
            row.append(repr(value) if math.isfinite(value) else "")
        writer.writerow(row)
    return buffer.getvalue()
