"""The files a ``format: folder`` dataset is converted from, so the workflow can declare them as inputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.folder import IMAGE_SUFFIXES, LANDMARK_SUFFIXES, split_suffix


def _rater_name(folder: object) -> str:
    """A list entry's rater name: the folder's last part (``a/rater1/`` -> ``rater1``)."""
    path = Path(str(folder))
    return path.name if path.name not in ("", ".", "..") else path.resolve().name


def rater_folders(raters: object) -> dict[str, Path]:
    """Rater name -> folder from ``raters:``, a list of folders (named by their last part) or a mapping."""
    if not raters:
        return {}
    if isinstance(raters, Mapping):
        pairs = [(str(name), folder) for name, folder in raters.items()]
    elif isinstance(raters, (list, tuple)):
        pairs = [(_rater_name(folder), folder) for folder in raters]
    else:
        raise DatasetError(f"raters must be a list of folders or a mapping name: folder; got {raters!r}")
    folders: dict[str, Path] = {}
    for name, folder in pairs:
        if not isinstance(folder, (str, Path)) or not str(folder):
            raise DatasetError(f"raters: the folder of rater {name!r} must be a path, got {folder!r}")
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            message = f"raters: {name!r} cannot name a rater (it becomes a folder name); use letters and digits"
            raise DatasetError(message)
        if name in folders:
            first = folders[name]
            message = (
                f"raters: {first} and {folder} have the same folder name {name!r}, which names the rater; "
                f"rename one folder, or name the raters in a mapping, e.g. "
                f"raters: {{{name}_a: {first}, {name}_b: {folder}}}"
            )
            raise DatasetError(message)
        folders[name] = Path(folder)
    return folders


def _known_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []  # conversion itself stops with a message naming the key and the path
    return sorted(p for p in folder.iterdir() if p.is_file() and split_suffix(p, suffixes) is not None)


def folder_source_files(block: Mapping[str, Any]) -> list[Path]:
    """Every image, landmark and rater file that conversion of a ``format: folder`` block reads.

    A ``.mhd`` header's pixel file (``.raw``/``.zraw``) beside it is included, since editing it changes the image.
    """
    files = _known_files(Path(block["images"]), IMAGE_SUFFIXES)
    files += [
        companion
        for header in files
        if header.name.endswith(".mhd")
        for companion in header.parent.glob(header.name[: -len(".mhd")] + ".*raw")
    ]
    files += _known_files(Path(block["landmarks"]), LANDMARK_SUFFIXES)
    for folder in rater_folders(block.get("raters")).values():
        files += _known_files(folder, LANDMARK_SUFFIXES)
    return files
