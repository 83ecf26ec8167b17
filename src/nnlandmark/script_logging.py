"""Logging for workflow steps: everything a step prints goes to its Snakemake log and to the console."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nnlandmark.errors import EXPECTED_ERRORS
from nnlandmark.training.progress import PROGRESS_LOGGER

_log_file: IO[str] | None = None


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
    """Send stdout, stderr and ``logging`` (INFO and up) to ``path``; keep echoing to the console.

    With ``echo=False`` the console gets only the progress lines (:mod:`nnlandmark.training.progress`),
    warnings and errors; everything, nnU-Net's messages included, still goes to ``path``.
    """
    global _log_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _log_file = path.open("w", buffering=1)
    if echo:
        sys.stdout = _Tee(handle, sys.__stdout__)
        sys.stderr = _Tee(handle, sys.__stderr__)
    else:
        sys.stdout = sys.stderr = handle
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not echo:
        console = logging.StreamHandler(sys.__stderr__)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(lambda record: record.name == PROGRESS_LOGGER or record.levelno >= logging.WARNING)
        logging.getLogger().addHandler(console)


def run_step(main: Callable[[Any], None], smk: Any) -> None:
    """Run a workflow script's ``main``; an expected error is shown once, as one line, and exits 1.

    Expected errors (a user's files, config or network; :data:`nnlandmark.errors.EXPECTED_ERRORS`) need no
    traceback: their message names the file or key and the fix. It goes to the step's log and the console.
    Any other exception is a bug and propagates with its traceback.
    """
    try:
        main(smk)
    except EXPECTED_ERRORS as error:
        line = f"error in rule {smk.rule}: {error}\n"
        if _log_file is not None:
            _log_file.write(line)
            _log_file.flush()
        sys.__stderr__.write(line)
        sys.exit(1)
