"""The torch device a run asks for: ``auto``, ``cpu`` or ``cuda``."""

from __future__ import annotations

import torch

from nnlandmark.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device, *, key: str = "device") -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is an error, not a CPU run.

    ``key`` names the option or config key in the error (``train.device``, ``--device``).
    """
    if isinstance(device, torch.device):
        return device
    if device not in DEVICES:
        raise InputError(f"{key} must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{key} is 'cuda', but torch sees no GPU; set {key} to 'auto' or 'cpu'")
    return torch.device(device)
