"""Logging for workflow steps: everything a step prints goes to its Snakemake log and to the console."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import IO, Any


class _Tee:
    """A text stream writing to several streams (the step's log file and the original console stream)."""

    def __init__(self, *streams: IO[str]) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.streams[0], name)


def log_to_file(path: str | Path, *, echo: bool = True) -> None:
    """Send stdout, stderr and ``logging`` (INFO and up) to ``path``; keep echoing to the console."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w", buffering=1)
    if echo:
        sys.stdout = _Tee(handle, sys.__stdout__)
        sys.stderr = _Tee(handle, sys.__stderr__)
    else:
        sys.stdout = sys.stderr = handle
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
