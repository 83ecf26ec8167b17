"""Checkpoint loading restricted to the types nnU-Net checkpoints hold: a checkpoint cannot run code."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

from nnlandmark.errors import InputError

_numpy_scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar

# Beyond what torch's weights-only unpickler allows by itself (tensors, containers, torch.device, ...),
# nnU-Net's logger keeps numpy scalars (np.mean of a loss array is np.float32 or np.float64).
ALLOWED_GLOBALS: tuple[Any, ...] = (
    _numpy_scalar,
    (_numpy_scalar, "numpy.core.multiarray.scalar"),  # as pickled by numpy 1.x
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
    np.dtypes.Int64DType,
    np.dtypes.Int32DType,
    np.dtypes.BoolDType,
)
_ALLOWED_NAMES = frozenset(
    g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in ALLOWED_GLOBALS
)


class CheckpointError(InputError):
    """A checkpoint cannot be used; the message names the file and what to do."""


class UnreadableCheckpointError(CheckpointError):
    """Not a readable checkpoint: truncated, corrupt, or not what nnU-Net saves."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint holds a type outside the allow-list: loading it could run arbitrary code."""


def disallowed_globals(path: Path) -> list[str]:
    """The classes and functions a checkpoint's pickle refers to that the allow-list does not have.

    Read from the pickle's opcodes without unpickling; a file torch cannot scan gives an empty list.
    """
    try:
        names = get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError):
        return []
    return sorted(set(names) - _ALLOWED_NAMES)


def _unreadable(path: Path, detail: str) -> UnreadableCheckpointError:
    message = (
        f"checkpoint {path} is not a readable torch checkpoint (truncated or corrupt: {detail}); "
        "copy it again from where it was trained, or retrain the fold"
    )
    return UnreadableCheckpointError(message)


def _not_nnunet(path: Path, detail: str) -> UnreadableCheckpointError:
    message = (
        f"checkpoint {path} is not an nnU-Net training checkpoint ({detail}); pass a fold's "
        "checkpoint_final.pth or checkpoint_best.pth"
    )
    return UnreadableCheckpointError(message)


def load_checkpoint(path: Path, *, required: Collection[str] = ()) -> dict[str, Any]:
    """The dict saved at ``path``, loaded onto the CPU with torch's weights-only unpickler and our allow-list.

    ``required`` names keys the dict must have. Raises :class:`UnsafeCheckpointError` when the file refers to
    a type outside the allow-list (nothing of it is run), :class:`UnreadableCheckpointError` otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableCheckpointError(f"checkpoint {path} does not exist; check the model folder and fold")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives; a cut-off one has no central directory
        raise _unreadable(path, "not a zip archive")
    try:
        with safe_globals(list(ALLOWED_GLOBALS)):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = disallowed_globals(path)
        if refused:
            message = (
                f"checkpoint {path} holds a type outside the allow-list ({', '.join(refused)}): refusing to "
                "load it, since unpickling it could run arbitrary code; only load models you trust, "
                "and retrain or re-export this one"
            )
            raise UnsafeCheckpointError(message) from None
        raise _unreadable(path, "its pickled data is damaged") from None
    # Only the file's bytes are at fault here: on a damaged archive or pickle torch raises anything from
    # RuntimeError to KeyError, IndexError or TypeError (found by flipping bytes of a real checkpoint).
    except Exception as err:  # noqa: BLE001
        raise _unreadable(path, f"{type(err).__name__}: {' '.join(str(err).split())[:200]}") from None
    if not isinstance(checkpoint, dict):
        raise _not_nnunet(path, f"it holds a {type(checkpoint).__name__}, not a dict")
    missing = [key for key in required if key not in checkpoint]
    if missing:
        raise _not_nnunet(path, f"no {', '.join(missing)} in it")
    return checkpoint


@contextmanager
def allow_listed_loads() -> Iterator[None]:
    """Make every ``torch.load`` inside the block weights-only with our allow-list, whatever it asks for.

    For nnU-Net's ``trainer.load_checkpoint(filename)``, which calls ``torch.load(weights_only=False)``
    itself; passing it a loaded dict instead fails in nnunetv2 2.8 (its ``checkpoint`` is then unbound).
    """
    previous = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with safe_globals(list(ALLOWED_GLOBALS)):
            yield
    finally:
        if previous is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = previous
