"""3D Slicer Markups fiducial files (.fcsv, Slicer 4.x/5.x), RAS or LPS as their header says."""

from __future__ import annotations

import csv
import logging
from io import StringIO

import numpy as np

from nnlandmark.landmarks.csv_io import check_name, parse_xyz
from nnlandmark.landmarks.json_io import RAS_FLIP
from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet

logger = logging.getLogger(__name__)

COLUMNS = (
    "id",
    "x",
    "y",
    "z",
    "ow",
    "ox",
    "oy",
    "oz",
    "vis",
    "sel",
    "lock",
    "label",
    "desc",
    "associatedNodeID",
)
VERSION = "4.11"
# Slicer wrote the coordinate system as a number (0 = RAS, 1 = LPS) before it wrote names.
_SYSTEMS = {"0": "RAS", "RAS": "RAS", "1": "LPS", "LPS": "LPS"}
_NEEDED = ("x", "y", "z", "label")


def _header_value(line: str) -> tuple[str, str] | None:
    """``("coordinatesystem", "0")`` for ``# CoordinateSystem = 0``; None for a comment without ``=``."""
    key, equals, value = line.lstrip("#").partition("=")
    return (key.strip().lower(), value.strip()) if equals else None


def declared_system(text: str, *, source: str = "<string>") -> str | None:
    """The system ("RAS" or "LPS") the ``# CoordinateSystem`` line of .fcsv text names; None without one."""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _header_value(line) if line.startswith("#") else None
        if header is not None and header[0] == "coordinatesystem":
            return _system(header[1], source=source, number=number, line=line)
    return None


def _system(value: str, *, source: str, number: int, line: str) -> str:
    system = _SYSTEMS.get(value.upper())
    if system is None:
        message = (
            f"{source}:{number}: unknown coordinate system {value!r} in {line.strip()!r}; "
            "expected 0 or RAS, 1 or LPS"
        )
        raise LandmarkError(message)
    return system


NAME_COLUMNS = ("auto", "label", "desc")


def choose_name_column(labels: list[str], descriptions: list[str]) -> str:
    """``desc`` when the labels are bare numbers or repeat (AFIDs: ``1,...,AC``) and every description is
    present and unique; otherwise ``label`` (what Slicer shows as the point's name)."""
    readable_labels = len(set(labels)) == len(labels) and not all(label.isdigit() for label in labels)
    usable_descriptions = all(descriptions) and len(set(descriptions)) == len(descriptions)
    return "desc" if usable_descriptions and not readable_labels else "label"


def parse_fcsv(
    text: str, *, source: str = "<string>", undeclared: str | None = None, name_column: str = "label"
) -> LandmarkSet:
    """A LandmarkSet (LPS mm) from .fcsv text; landmarks not listed in the file are not in the set.

    ``undeclared`` ("RAS" or "LPS") reads a file without a ``# CoordinateSystem`` line quietly in that
    system; None reads it as RAS with a warning. ``name_column`` names the landmarks by the ``label`` or
    the ``desc`` column, or (``auto``) by whichever :func:`choose_name_column` finds unique and readable.
    """
    if undeclared not in (None, "RAS", "LPS"):
        raise ValueError(f"undeclared must be None, 'RAS' or 'LPS', got {undeclared!r}")
    if name_column not in NAME_COLUMNS:
        raise ValueError(f"name_column must be one of {', '.join(NAME_COLUMNS)}, got {name_column!r}")
    system: str | None = None
    columns: list[str] = list(COLUMNS)
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line.startswith("#"):
            rows.append((number, line))
            continue
        header = _header_value(line)
        if header is None:
            continue
        key, value = header
        if key == "coordinatesystem":
            system = _system(value, source=source, number=number, line=line)
        elif key == "columns":
            columns = [name.strip() for name in value.split(",")]
            missing = [name for name in _NEEDED if name not in columns]
            if missing:
                message = (
                    f"{source}:{number}: '# columns' header lacks {', '.join(missing)}: {line.strip()!r}"
                )
                raise LandmarkError(message)
    if system is None and undeclared is None:
        logger.warning("%s: no '# CoordinateSystem' header; assuming RAS (the Slicer 4 default)", source)
    system = system or undeclared or "RAS"

    index = {name: i for i, name in enumerate(columns)}
    needed = max(index[name] for name in _NEEDED) + 1
    flip = RAS_FLIP if system == "RAS" else np.ones(3)
    parsed = []
    for number, line in rows:
        fields = next(csv.reader([line]))
        # Slicer itself accepts rows that stop after the label; more fields than columns means a bad row.
        if not needed <= len(fields) <= len(columns):
            message = (
                f"{source}:{number}: expected {len(columns)} comma-separated columns "
                f"({','.join(columns)}), got {len(fields)}: {line!r}"
            )
            raise LandmarkError(message)
        parsed.append((number, fields))
    labels = [fields[index["label"]].strip() for _, fields in parsed]
    descriptions = [
        fields[index["desc"]].strip() if "desc" in index and index["desc"] < len(fields) else ""
        for _, fields in parsed
    ]
    if name_column == "auto":
        name_column = choose_name_column(labels, descriptions)
    names = labels if name_column == "label" else descriptions
    points = np.zeros((len(rows), 3))
    seen: dict[str, int] = {}
    for i, (number, fields) in enumerate(parsed):
        if not names[i]:
            raise LandmarkError(f"{source}:{number}: empty {name_column!r} column, which names the landmarks; "
                                f"fill it in or choose the other name column (label or desc)")
        check_name(names[i], seen, source=source, line=number)
        xyz = [fields[index[axis]].strip() for axis in "xyz"]
        points[i] = parse_xyz(xyz, where=f"{source}:{number}") * flip
    return LandmarkSet(tuple(names), points, np.ones(len(rows), dtype=bool))


def format_fcsv(landmarks: LandmarkSet) -> str:
    """.fcsv text in LPS for the present landmarks of ``landmarks`` (absent ones are left out)."""
    buffer = StringIO()
    buffer.write(f"# Markups fiducial file version = {VERSION}\n")
    buffer.write("# CoordinateSystem = LPS\n")
    buffer.write(f"# columns = {','.join(COLUMNS)}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    for i, name in enumerate(landmarks.names):
        if not landmarks.present[i]:
            continue
        xyz = [repr(float(v)) for v in landmarks.points[i]]
        # Orientation 0,0,0,1 is Slicer's "no rotation"; visible, selected, unlocked.
        writer.writerow([str(i + 1), *xyz, "0", "0", "0", "1", "1", "1", "0", name, "", ""])
    return buffer.getvalue()
