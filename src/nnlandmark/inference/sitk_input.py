"""In-memory SimpleITK images as nnU-Net's ``SimpleITKIO`` reads image files: the same array and properties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from nnlandmark.errors import InputError


def image_problem(image: sitk.Image) -> str | None:
    """Why a model cannot take ``image`` (not 3-D, not scalar), or None."""
    if image.GetDimension() != 3:
        return f"a {image.GetDimension()}-D image, but models predict 3-D images"
    if image.GetNumberOfComponentsPerPixel() != 1:
        return f"{image.GetNumberOfComponentsPerPixel()} values per voxel, but models take one (a scalar image)"
    return None


def nnunet_input(images: Sequence[sitk.Image]) -> tuple[np.ndarray, dict[str, Any]]:
    """``(data, properties)`` exactly as ``SimpleITKIO.read_images`` returns them for files of these images.

    ``data`` is float32 (channels, z, y, x): SimpleITK's numpy view, one channel per image; ``properties``
    holds nnU-Net's spacing in the array's axis order and SimpleITK's geometry (``sitk_stuff``), which
    prediction uses to map landmarks back to LPS millimetres.
    """
    if not images:
        raise InputError("expected one image per channel of the model, got none")
    for position, image in enumerate(images):
        problem = image_problem(image)
        if problem:
            raise InputError(f"image {position} (of {len(images)}) is {problem}")
    first = images[0]
    for position, image in enumerate(images[1:], start=1):
        if (image.GetSize() != first.GetSize() or image.GetSpacing() != first.GetSpacing()
                or image.GetOrigin() != first.GetOrigin() or image.GetDirection() != first.GetDirection()):
            raise InputError(f"image {position} does not share the grid (size, spacing, origin, direction) of "
                             "image 0; resample the channels onto one grid")
    arrays = [sitk.GetArrayFromImage(image)[None] for image in images]
    properties = {
        "sitk_stuff": {"spacing": first.GetSpacing(), "origin": first.GetOrigin(), "direction": first.GetDirection()},
        "spacing": list(np.abs(list(first.GetSpacing())[::-1])),
    }
    return np.vstack(arrays, dtype=np.float32, casting="unsafe"), properties
