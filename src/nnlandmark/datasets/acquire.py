"""Get a benchmark dataset's raw files: a local copy (``source:``) or a checked download into the cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlandmark.datasets import afids, openneuro
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.download import extract_archive, fetch_gdrive, verify_file

log = logging.getLogger(__name__)

BENCHMARK_FORMATS = ("mml", "mml_complete", "afids")
_DATALAD_HINT = (
    "fetch it with DataLad (`datalad clone {repo} <folder> && (cd <folder> && datalad get -r .)`){extra} and set "
    "datasets.<name>.sources.{source}.source: <folder>"
)


def local_source(path: str | Path, cache: Path, *, known_hash: str | None = None) -> Path:
    """A user's own copy: a folder as it is, or an archive extracted (once) into ``cache``."""
    path = Path(path)
    if path.is_dir():
        log.info("using the local folder %s", path)
        return path
    if path.is_file():
        verify_file(path, known_hash, source=str(path), delete=False)
        return extract_archive(path, cache / f"{path.name}.extracted")
    message = f"source {path} does not exist; fix the dataset's source: path (relative paths start at {Path.cwd()})"
    raise DatasetError(message)


def acquire_mml(block: Mapping[str, Any], cache: Path) -> Path:
    """The extracted MML release: from ``source`` or the Google Drive file (``gdrive_id``, or ``url``)."""
    if block.get("source"):
        return local_source(block["source"], cache, known_hash=block.get("sha256"))
    if not block.get("gdrive_id") and not block.get("url"):
        raise DatasetError("the MML dataset needs source: (a local copy), gdrive_id: or url: in its config block")
    archive = fetch_gdrive(str(block.get("gdrive_id") or ""), cache / "mml_release.archive",
                           known_hash=block.get("sha256"), url=block.get("url"))
    return extract_archive(archive, cache / "mml_release")


def acquire_afids_source(source: str, spec: Mapping[str, Any] | None, cache: Path) -> Path | str:
    """A source's BIDS folder, or the reason it is skipped (a string)."""
    spec = spec or {}
    if spec.get("source"):
        return local_source(spec["source"], cache / source)
    if spec.get("openneuro"):
        dest = cache / source
        openneuro.fetch_dataset(spec["openneuro"], dest, include=afids.FILES,
                                base_url=spec.get("url") or openneuro.S3_URL, hashes=spec.get("hashes"))
        return dest
    repo = spec.get("repository") or f"https://github.com/afids/{source}"
    extra = ""
    if spec.get("credentials"):
        extra = f", with the credentials it asks for ({spec['credentials']})"
    reason = f"{source} skipped: no source: or openneuro: configured; " + _DATALAD_HINT.format(
        repo=repo, extra=extra, source=source
    )
    return reason


def acquire(block: Mapping[str, Any], cache: Path) -> dict[str, Any]:
    """Fetch (or locate) a benchmark dataset; returns the manifest the prepare step reads."""
    fmt = block.get("format")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    if fmt in ("mml", "mml_complete"):
        return {"format": fmt, "release": str(acquire_mml(block, cache))}
    if fmt == "afids":
        roots: dict[str, str] = {}
        skipped: dict[str, str] = {}
        for source, spec in (block.get("sources") or {}).items():
            if source not in afids.SOURCES:
                raise DatasetError(f"unknown AFIDs source {source!r} under sources:; known: {', '.join(afids.SOURCES)}")
            if spec is not None and spec.get("enabled") is False:
                skipped[source] = f"{source} skipped: enabled: false"
                continue
            found = acquire_afids_source(source, spec, cache)
            if isinstance(found, str):
                log.warning("%s", found)
                skipped[source] = found
            else:
                roots[source] = str(found)
        if not roots:
            raise DatasetError("no AFIDs source could be fetched: " + " | ".join(skipped.values()))
        return {"format": fmt, "sources": roots, "skipped": skipped}
    raise DatasetError(f"format {fmt!r} has nothing to download; expected one of {', '.join(BENCHMARK_FORMATS)}")
