"""nnLandmark: 3D anatomical landmark detection by heatmap regression on top of nnU-Net v2."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from nnlandmark.api import Model

__version__ = "0.1.0"
__all__ = ["LandmarkSet", "Model", "__version__", "load"]


def load(
    model: str | os.PathLike[str],
    *,
    folds: Sequence[int] | None = None,
    device: str | torch.device = "auto",
    checkpoint: str | None = None,
    tile_step_size: float = 0.5,
    cache: str | os.PathLike[str] | None = None,
) -> Model:
    """Load a trained model folder or an exported model ``.zip``; see :func:`nnlandmark.api.load`.

    Imported on first use, so that ``import nnlandmark`` stays light (no torch, no nnU-Net).
    """
    from nnlandmark.api import load as load_model

    return load_model(model, folds=folds, device=device, checkpoint=checkpoint, tile_step_size=tile_step_size,
                      cache=cache)


def __getattr__(name: str) -> Any:
    """``nnlandmark.Model`` and ``nnlandmark.LandmarkSet``, imported when first asked for."""
    if name == "Model":
        from nnlandmark.api import Model

        return Model
    if name == "LandmarkSet":
        from nnlandmark.landmarks import LandmarkSet

        return LandmarkSet
    raise AttributeError(f"module 'nnlandmark' has no attribute {name!r}")
