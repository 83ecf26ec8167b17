"""A naive reference method: each landmark at its mean position in the image's physical (LPS) bounding box."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nnlandmark.landmarks.geometry import ImageGeometry
from nnlandmark.landmarks.landmark_set import LandmarkSet

logger = logging.getLogger(__name__)

_FORMAT = "nnlandmark.MeanPositionBaseline"
_VERSION = 2
FRAME = "axis-aligned LPS bounding box of the image's voxels (outer edges), normalised to [0, 1] per axis"


def lps_box(geometry: ImageGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Lower corner and size (mm) of the axis-aligned LPS box around the image's voxels.

    The 8 outer corners (continuous indices -0.5 and size - 0.5) are mapped to LPS mm and bounded, so the
    box depends on where the image lies in space, not on how its voxels are stored (axis order, flips,
    oblique direction cosines).
    """
    size = np.asarray(geometry.size, dtype=np.float64)
    corners = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in size])))
    world = geometry.index_to_world(corners)
    low, extent = world.min(axis=0), world.max(axis=0) - world.min(axis=0)
    if not np.all(extent > 0):
        raise ValueError(f"expected an image with a positive physical extent, got {extent} mm for {geometry}")
    return low, extent


class MeanPositionBaseline:
    """Predicts every landmark at its training mean position in normalised LPS-box coordinates.

    Each training landmark is expressed as ``(point - low) / extent`` in its image's :func:`lps_box`,
    averaged over the cases where it is present, and mapped back into the test image's box. Working in
    physical space makes the baseline independent of how each image is stored (voxel axis order, flips,
    oblique direction cosines), while still following each image's field of view; normalised voxel
    indices, averaged over differently oriented images, would mix up axes. Landmarks never present in
    training are predicted absent; the others are always present, with NaN confidence.
    """

    def __init__(
        self,
        *,
        names: Iterable[str] = (),
        mean_normalised: np.ndarray | None = None,
        n_present: np.ndarray | None = None,
        n_cases: int = 0,
    ) -> None:
        self.names: tuple[str, ...] = tuple(names)
        k = len(self.names)
        self.mean_normalised = (
            np.full((k, 3), np.nan) if mean_normalised is None
            else np.asarray(mean_normalised, dtype=np.float64).reshape(k, 3)
        )
        self.n_present = (
            np.zeros(k, dtype=int) if n_present is None else np.asarray(n_present, dtype=int).reshape(k)
        )
        self.n_cases = int(n_cases)

    def fit(self, cases: Iterable[tuple[LandmarkSet, ImageGeometry]]) -> MeanPositionBaseline:
        """Average LPS-box coordinates over the training cases (present landmarks only); returns self."""
        names: list[str] = []
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        n_cases = 0
        for landmarks, geometry in cases:
            n_cases += 1
            low, extent = lps_box(geometry)
            normalised = (landmarks.points - low) / extent
            for name, row, present in zip(landmarks.names, normalised, landmarks.present):
                if name not in counts:
                    names.append(name)
                    sums[name], counts[name] = np.zeros(3), 0
                if present:
                    sums[name] += row
                    counts[name] += 1
        if n_cases == 0:
            raise ValueError("cannot fit MeanPositionBaseline on zero training cases")
        never = [n for n in names if counts[n] == 0]
        if never:
            logger.warning("landmark(s) never present in %d training case(s), predicted absent: %s",
                           n_cases, ", ".join(never))
        self.names = tuple(names)
        self.n_present = np.array([counts[n] for n in names], dtype=int)
        self.mean_normalised = np.array(
            [sums[n] / counts[n] if counts[n] else np.full(3, np.nan) for n in names]
        ).reshape(-1, 3)
        self.n_cases = n_cases
        return self

    def predict(self, geometry: ImageGeometry) -> LandmarkSet:
        """Landmarks on ``geometry``: LPS mm = low + mean * extent of the image's :func:`lps_box`."""
        if self.n_cases == 0:
            raise RuntimeError("MeanPositionBaseline is not fitted; call fit() or from_json() first")
        low, extent = lps_box(geometry)
        points = low + self.mean_normalised * extent
        present = self.n_present > 0
        return LandmarkSet(self.names, points, present, np.full(len(self.names), np.nan))

    def to_json(self, path: str | Path) -> None:
        """Write the fitted means to ``path`` atomically (temporary file, then rename)."""
        path = Path(path)
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "frame": FRAME,
            "n_cases": self.n_cases,
            "landmarks": [
                {
                    "name": name,
                    "n_present": int(n),
                    "mean_in_box": None if n == 0 else [float(v) for v in mean],
                }
                for name, mean, n in zip(self.names, self.mean_normalised, self.n_present)
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would make results unreadable to the group
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def from_json(cls, path: str | Path) -> MeanPositionBaseline:
        """Read a baseline written by :meth:`to_json`."""
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError(f"expected format {_FORMAT!r} in {path}, got {document.get('format')!r}"
                             if isinstance(document, dict) else f"expected a JSON object in {path}")
        if document.get("version") != _VERSION:
            raise ValueError(
                f"expected version {_VERSION} in {path}, got {document.get('version')!r}: version 1 stored "
                "means of normalised voxel indices, which depend on each image's orientation; refit the "
                f"baseline (rule predict_baseline) to get version {_VERSION} ({FRAME})"
            )
        names, means, counts = [], [], []
        for i, entry in enumerate(document["landmarks"]):
            mean = entry["mean_in_box"]
            n = int(entry["n_present"])
            if (mean is None) != (n == 0) or (mean is not None and len(mean) != 3):
                raise ValueError(
                    f"landmark {i} ({entry.get('name')!r}) in {path}: expected 3 coordinates when "
                    f"n_present > 0 and null otherwise, got {mean!r} with n_present={n}"
                )
            names.append(str(entry["name"]))
            means.append([math.nan] * 3 if mean is None else [float(v) for v in mean])
            counts.append(n)
        return cls(
            names=names,
            mean_normalised=np.array(means, dtype=np.float64).reshape(-1, 3),
            n_present=np.array(counts, dtype=int),
            n_cases=int(document["n_cases"]),
        )
