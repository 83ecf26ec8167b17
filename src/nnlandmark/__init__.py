"""nnLandmark: 3D anatomical landmark detection by heatmap regression on top of nnU-Net v2."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlandmark.api import Model, load
    from nnlandmark.landmarks import LandmarkSet

__version__ = "0.1.0"
__all__ = ["LandmarkSet", "Model", "__version__", "load"]

# The public API, imported on first use so that ``import nnlandmark`` stays light (no torch, no nnU-Net).
_LAZY = {"load": "nnlandmark.api", "Model": "nnlandmark.api", "LandmarkSet": "nnlandmark.landmarks"}


def __getattr__(name: str) -> Any:
    """``nnlandmark.load``, ``nnlandmark.Model`` and ``nnlandmark.LandmarkSet``, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'nnlandmark' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
