"""Image grid geometry (size, spacing, origin, direction) and voxel-index <-> LPS-mm mapping via SimpleITK."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class ImageGeometry:
    """The physical grid of a 3D image, in SimpleITK conventions.

    ``size`` and ``spacing`` are in ITK index order (i, j, k); ``direction`` is the row-major 3x3
    direction-cosine matrix. The numpy array of such an image is indexed ``[k, j, i]``.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def from_image(cls, image: sitk.Image) -> ImageGeometry:
        """Geometry of an in-memory SimpleITK image."""
        if image.GetDimension() != 3:
            raise ValueError(f"expected a 3D image, got {image.GetDimension()}D")
        return cls._from_sitk(image)

    @classmethod
    def from_file(cls, path: str | Path) -> ImageGeometry:
        """Geometry read from an image file's header only (no voxel data is loaded)."""
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as err:
            raise ValueError(f"cannot read image header of {path}: {err}".strip()) from err
        return cls.from_header(reader, source=path)

    @classmethod
    def from_header(cls, reader: sitk.ImageFileReader, *, source: str | Path) -> ImageGeometry:
        """Geometry of a reader after its ``ReadImageInformation()``; ``source`` names the file in errors."""
        if reader.GetDimension() != 3:
            raise ValueError(f"expected a 3D image in {source}, got {reader.GetDimension()}D")
        return cls._from_sitk(reader)

    @classmethod
    def _from_sitk(cls, source: sitk.Image | sitk.ImageFileReader) -> ImageGeometry:
        """Read the grid through the getters that images and header readers share."""
        return cls(
            size=tuple(int(s) for s in source.GetSize()),
            spacing=tuple(float(s) for s in source.GetSpacing()),
            origin=tuple(float(o) for o in source.GetOrigin()),
            direction=tuple(float(d) for d in source.GetDirection()),
        )

    def reference_image(self) -> sitk.Image:
        """A 1-voxel image carrying this geometry, for SimpleITK's point transforms."""
        image = sitk.Image(1, 1, 1, sitk.sitkUInt8)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def index_to_world(self, indices: np.ndarray) -> np.ndarray:
        """Continuous ITK indices (N, 3) in (i, j, k) order -> LPS mm points (N, 3); NaN rows stay NaN."""
        return self._map_rows(indices, self.reference_image().TransformContinuousIndexToPhysicalPoint)

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """LPS mm points (N, 3) -> continuous ITK indices (N, 3) in (i, j, k) order; NaN rows stay NaN."""
        return self._map_rows(points, self.reference_image().TransformPhysicalPointToContinuousIndex)

    @staticmethod
    def _map_rows(rows: np.ndarray, transform: Callable[[list[float]], tuple[float, ...]]) -> np.ndarray:
        """Apply a SimpleITK point transform to every finite row of an (N, 3) array."""
        values = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        out = np.full(values.shape, np.nan)
        for n, row in enumerate(values):
            if np.all(np.isfinite(row)):
                out[n] = transform([float(v) for v in row])
        return out

    def contains_index(self, indices: np.ndarray, *, margin: float = 0.5) -> np.ndarray:
        """Per row: is the continuous index inside the image's voxel extent (voxel centres +- ``margin``)?"""
        idx = np.asarray(indices, dtype=np.float64).reshape(-1, 3)
        upper = np.asarray(self.size, dtype=np.float64) - 1 + margin
        with np.errstate(invalid="ignore"):
            return np.all((idx >= -margin) & (idx <= upper), axis=1)
