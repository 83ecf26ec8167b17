"""Map positions from nnU-Net's preprocessed grid back to the original image and to LPS millimetres."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nnlandmark.landmarks.geometry import ImageGeometry


def preprocessed_to_itk_index(
    positions: np.ndarray,
    *,
    preprocessed_shape: Sequence[int],
    properties: Mapping[str, Any],
    transpose_forward: Sequence[int],
) -> np.ndarray:
    """Undo nnU-Net's preprocessing (transpose -> crop -> resample) for continuous voxel positions.

    ``positions`` (N, 3) are in the preprocessed array's axis order. nnU-Net's resampling (skimage
    ``resize`` and its separate-z variant) aligns voxel *areas*, so index p on the new grid sits at
    (p + 0.5) * old / new - 0.5 on the old one. Returns ITK (i, j, k) indices of the original image.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    cropped_shape = np.asarray(properties["shape_after_cropping_and_before_resampling"], dtype=np.float64)
    scale = cropped_shape / np.asarray(preprocessed_shape, dtype=np.float64)
    in_crop = (pos + 0.5) * scale - 0.5
    bbox_start = np.asarray([b[0] for b in properties["bbox_used_for_cropping"]], dtype=np.float64)
    transposed = in_crop + bbox_start
    numpy_order = np.empty_like(transposed)
    numpy_order[:, list(transpose_forward)] = transposed
    return numpy_order[:, ::-1]


def geometry_from_properties(properties: Mapping[str, Any], shape_numpy: Sequence[int]) -> ImageGeometry:
    """The original image's geometry from nnU-Net's ``sitk_stuff`` properties and its numpy shape."""
    sitk_stuff = properties["sitk_stuff"]
    return ImageGeometry(
        size=tuple(int(s) for s in reversed(tuple(shape_numpy))),
        spacing=tuple(float(s) for s in sitk_stuff["spacing"]),
        origin=tuple(float(o) for o in sitk_stuff["origin"]),
        direction=tuple(float(d) for d in sitk_stuff["direction"]),
    )


def preprocessed_to_world(
    positions: np.ndarray,
    *,
    preprocessed_shape: Sequence[int],
    properties: Mapping[str, Any],
    transpose_forward: Sequence[int],
) -> np.ndarray:
    """Preprocessed-grid positions (N, 3) -> LPS mm points (N, 3) of the original image."""
    index = preprocessed_to_itk_index(
        positions,
        preprocessed_shape=preprocessed_shape,
        properties=properties,
        transpose_forward=transpose_forward,
    )
    numpy_shape = [0, 0, 0]
    for axis, original_axis in enumerate(transpose_forward):
        numpy_shape[original_axis] = int(properties["shape_before_cropping"][axis])
    geometry = geometry_from_properties(properties, numpy_shape)
    return geometry.index_to_world(index)


def world_to_preprocessed(
    points: np.ndarray,
    *,
    preprocessed_shape: Sequence[int],
    properties: Mapping[str, Any],
    transpose_forward: Sequence[int],
) -> np.ndarray:
    """LPS mm points (N, 3) of the original image -> positions on the preprocessed grid (the inverse)."""
    numpy_shape = [0, 0, 0]
    for axis, original_axis in enumerate(transpose_forward):
        numpy_shape[original_axis] = int(properties["shape_before_cropping"][axis])
    itk_index = geometry_from_properties(properties, numpy_shape).world_to_index(np.asarray(points, dtype=np.float64))
    numpy_order = np.asarray(itk_index, dtype=np.float64).reshape(-1, 3)[:, ::-1]
    transposed = numpy_order[:, list(transpose_forward)]
    bbox_start = np.asarray([b[0] for b in properties["bbox_used_for_cropping"]], dtype=np.float64)
    cropped_shape = np.asarray(properties["shape_after_cropping_and_before_resampling"], dtype=np.float64)
    scale = cropped_shape / np.asarray(preprocessed_shape, dtype=np.float64)
    return (transposed - bbox_start + 0.5) / scale - 0.5
