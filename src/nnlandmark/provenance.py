"""Content fingerprints: what a stage's output was made from, so a changed input re-runs what depends on it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def json_digest(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys), so equal content gives an equal digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the names and bytes of several files, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode("utf-8") + b"\0")
        digest.update(file_digest(path).encode("ascii"))
    return digest.hexdigest()


def stat_fingerprint(paths: Iterable[Path]) -> str:
    """A cheap fingerprint of files from their paths, sizes, modification and status-change times.

    Used to decide whether to re-run a stage: an edit in place, a replaced, added, removed or renamed file
    each change it, even when the new file is older than the stage's output. The status-change time (which
    no user tool sets back, unlike the modification time that ``cp -p`` or a restore keeps) catches an edit
    of the same size. A false alarm (e.g. after ``chmod``) costs only a re-conversion.
    """
    entries = []
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        entries.append([str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns])
    return json_digest(entries)


def changed_parts(stored: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Names of the fingerprint parts that differ between ``stored`` and ``current`` (missing counts too)."""
    return sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))
