"""A naive reference method: each landmark at its mean position in normalised image coordinates."""

from __future__ import annotations

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
_VERSION = 1


def _extent(geometry: ImageGeometry) -> np.ndarray:
    """size - 1 per axis: the index span that normalised coordinates 0..1 cover."""
    extent = np.asarray(geometry.size, dtype=np.float64) - 1.0
    if np.any(extent <= 0):
        raise ValueError(f"normalised coordinates need at least 2 voxels per axis, got size {geometry.size}")
    return extent


class MeanPositionBaseline:
    """Predicts every landmark at its training mean of (continuous ITK index) / (size - 1).

    Landmarks never present in training are predicted absent; the others are always present, with NaN
    confidence. Normalising by the grid makes the baseline follow each image's field of view, including
    oblique and anisotropic grids, without any image content.
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
        """Average normalised positions over the training cases (present landmarks only); returns self."""
        names: list[str] = []
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        n_cases = 0
        for landmarks, geometry in cases:
            n_cases += 1
            normalised = geometry.world_to_index(landmarks.points) / _extent(geometry)
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
        """Landmarks on ``geometry``: index = mean * (size - 1), mapped to LPS mm."""
        if self.n_cases == 0:
            raise RuntimeError("MeanPositionBaseline is not fitted; call fit() or from_json() first")
        points = geometry.index_to_world(self.mean_normalised * _extent(geometry))
        present = self.n_present > 0
        return LandmarkSet(self.names, points, present, np.full(len(self.names), np.nan))

    def to_json(self, path: str | Path) -> None:
        """Write the fitted means to ``path`` atomically (temporary file, then rename)."""
        path = Path(path)
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "n_cases": self.n_cases,
            "landmarks": [
                {
                    "name": name,
                    "n_present": int(n),
                    "mean_normalised": None if n == 0 else [float(v) for v in mean],
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
            raise ValueError(f"expected version {_VERSION} in {path}, got {document.get('version')!r}")
        names, means, counts = [], [], []
        for i, entry in enumerate(document["landmarks"]):
            mean = entry["mean_normalised"]
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
