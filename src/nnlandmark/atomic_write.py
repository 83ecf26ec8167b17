"""Atomic text writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a uniquely named temporary file next to ``path``, then rename it over ``path``.

    The folder must exist. The unique name lets concurrent writers of the same file (e.g. two folds) not
    trip over each other's temporary file.
    """
    path = Path(path)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        # os.open with 0o666 lets the umask set the permissions, as for any newly created file.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
