"""Expected failures (a user's files, config, options or network): shown as one line, never as a traceback."""

from __future__ import annotations


class NNLandmarkError(Exception):
    """An expected failure; its message names the file or key, the problem and the fix."""


class InputError(NNLandmarkError, ValueError):
    """A user's input (file, config key, option) cannot be used as it is."""


# Anything else raised is a bug in the tool and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (NNLandmarkError, FileNotFoundError, NotADirectoryError)
