"""Read and write landmark files by suffix (.mrk.json, .json, .csv, .fcsv); voxel indices to LPS mm."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nnlandmark.atomic_write import write_text_atomic
from nnlandmark.landmarks.csv_io import format_csv, parse_csv
from nnlandmark.landmarks.fcsv_io import declared_system, format_fcsv, parse_fcsv
from nnlandmark.landmarks.geometry import ImageGeometry
from nnlandmark.landmarks.json_io import format_json, parse_json
from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet
from nnlandmark.landmarks.mrk_json_io import format_mrk_json, parse_mrk_json

# Order matters: ".mrk.json" must be matched before ".json".
_FORMATS: dict[str, tuple[Callable[..., LandmarkSet], Callable[[LandmarkSet], str]]] = {
    ".mrk.json": (parse_mrk_json, format_mrk_json),
    ".json": (parse_json, format_json),
    ".csv": (parse_csv, format_csv),
    ".fcsv": (parse_fcsv, format_fcsv),
}
SUPPORTED_SUFFIXES = tuple(_FORMATS)


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in _FORMATS:
        if name.endswith(suffix):
            return suffix
    message = (
        f"{path}: unknown landmark file type {''.join(path.suffixes) or '(no suffix)'!r}; "
        f"supported suffixes: {', '.join(SUPPORTED_SUFFIXES)}"
    )
    raise LandmarkError(message)


def _read_text(path: Path) -> str:
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        message = f"{path}: landmark file {problem}; check the path (relative paths start at {Path.cwd()})"
        raise LandmarkError(message)
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put in front of CSV files.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        message = f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8"
        raise LandmarkError(message) from None
    except OSError as err:
        raise LandmarkError(f"{path}: cannot read the landmark file ({err.strerror or err}); check its "
                            "permissions, or copy it again") from None
    if not text.strip():
        size = path.stat().st_size
        what = "0 bytes" if size == 0 else f"{size} bytes of white space"
        message = f"{path}: empty landmark file ({what}); save the landmarks into it again, or remove it"
        raise LandmarkError(message)
    return text


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` atomically to ``path``, whose folder must exist."""
    folder = path.parent
    if not folder.is_dir():
        message = f"{path}: cannot write, folder {folder} does not exist; create it first"
        raise LandmarkError(message)
    write_text_atomic(path, text)


def read_landmarks(
    path: str | Path, *, fcsv_undeclared: str | None = None, fcsv_name_column: str = "label"
) -> LandmarkSet:
    """Landmarks (LPS mm) from a .mrk.json, .json, .csv or .fcsv file, converted by the file's own header.

    ``fcsv_undeclared`` ("RAS" or "LPS") reads an .fcsv without a ``# CoordinateSystem`` line quietly in
    that system; None reads it as RAS with a warning. ``fcsv_name_column`` (label, desc or auto) is the
    .fcsv column that names the landmarks.
    """
    path = Path(path)
    suffix = _format_of(path)
    if suffix == ".fcsv":
        return parse_fcsv(_read_text(path), source=str(path), undeclared=fcsv_undeclared,
                          name_column=fcsv_name_column)
    return _FORMATS[suffix][0](_read_text(path), source=str(path))


def declares_coordinate_system(path: str | Path) -> bool:
    """False only for an .fcsv without a ``# CoordinateSystem`` line (the other formats have defaults)."""
    path = Path(path)
    if _format_of(path) != ".fcsv":
        return True
    return declared_system(_read_text(path), source=str(path)) is not None


def write_landmarks(path: str | Path, landmarks: LandmarkSet) -> None:
    """Write ``landmarks`` in LPS mm in the format named by the suffix; never leaves a half-written file."""
    path = Path(path)
    render = _FORMATS[_format_of(path)][1]
    _write_atomic(path, render(landmarks))


def read_voxel_landmarks(indices: np.ndarray, names: Sequence[str], geometry: ImageGeometry) -> LandmarkSet:
    """Landmarks from continuous ITK voxel indices (N, 3) in (i, j, k) order.

    A row with any negative or NaN value marks an absent landmark.
    """
    idx = np.asarray(indices, dtype=np.float64)
    if idx.ndim != 2 or idx.shape[1] != 3 or idx.shape[0] != len(names):
        message = f"expected voxel indices of shape ({len(names)}, 3) for {len(names)} names, got {idx.shape}"
        raise LandmarkError(message)
    with np.errstate(invalid="ignore"):
        present = np.all(np.isfinite(idx) & (idx >= 0), axis=1)
    points = np.full(idx.shape, np.nan)
    if present.any():
        points[present] = geometry.index_to_world(idx[present])
    return LandmarkSet(tuple(names), points, present)
