"""nnLandmark: 3D anatomical landmark detection by heatmap regression on top of nnU-Net v2."""

from __future__ import annotations

__version__ = "0.1.0"
