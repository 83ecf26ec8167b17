"""Landmarks: one representation inside (names, LPS mm, present flags), file formats at the edges."""

from __future__ import annotations

from nnlandmark.landmarks.geometry import ImageGeometry
from nnlandmark.landmarks.io import (
    declares_coordinate_system,
    read_landmarks,
    read_voxel_landmarks,
    write_landmarks,
)
from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet

__all__ = [
    "ImageGeometry",
    "LandmarkError",
    "LandmarkSet",
    "declares_coordinate_system",
    "read_landmarks",
    "read_voxel_landmarks",
    "write_landmarks",
]
