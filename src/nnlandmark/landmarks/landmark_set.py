"""The one in-memory representation of a case's landmarks: names, LPS millimetres, present flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from nnlandmark.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


class LandmarkError(InputError):
    """A landmark file or landmark set is invalid; the message names the file and what to fix."""


@dataclass(frozen=True, eq=False)
class LandmarkSet:
    """Named landmarks in physical LPS millimetres (ITK world space).

    ``points`` has shape (K, 3); rows of absent landmarks are NaN and their ``present`` flag is False.
    ``confidence`` is optional (predictions carry one value per landmark).
    """

    names: tuple[str, ...]
    points: np.ndarray
    present: np.ndarray
    confidence: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        points = np.asarray(self.points, dtype=np.float64).reshape(-1, 3) if len(names) else np.zeros((0, 3))
        present = np.asarray(self.present, dtype=bool).reshape(-1)
        if points.shape[0] != len(names) or present.shape[0] != len(names):
            raise LandmarkError(
                f"expected {len(names)} points and present flags, got {points.shape[0]} and {present.shape[0]}"
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise LandmarkError(f"duplicate landmark names: {', '.join(duplicates)}")
        bad = [n for n, p, ok in zip(names, points, present) if ok and not np.all(np.isfinite(p))]
        if bad:
            raise LandmarkError(f"non-finite coordinates for present landmarks: {', '.join(bad)}")
        points = points.copy()
        points[~present] = np.nan
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "present", present.copy())
        if self.confidence is not None:
            confidence = np.asarray(self.confidence, dtype=np.float64).reshape(-1)
            if confidence.shape[0] != len(names):
                raise LandmarkError(f"expected {len(names)} confidences, got {confidence.shape[0]}")
            object.__setattr__(self, "confidence", confidence)

    @classmethod
    def from_points(
        cls,
        points: Mapping[str, Sequence[float] | None],
        *,
        order: Iterable[str] | None = None,
    ) -> LandmarkSet:
        """Build from ``{name: (x, y, z) or None}``; ``None`` (or NaN) marks an absent landmark."""
        names = tuple(order) if order is not None else tuple(points)
        coords = np.full((len(names), 3), np.nan)
        present = np.zeros(len(names), dtype=bool)
        for i, name in enumerate(names):
            value = points.get(name)
            if value is None:
                continue
            row = np.asarray(value, dtype=np.float64).reshape(3)
            if np.all(np.isfinite(row)):
                coords[i] = row
                present[i] = True
        return cls(names, coords, present)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of ``name`` in this set."""
        try:
            return self.names.index(name)
        except ValueError:
            raise LandmarkError(f"unknown landmark {name!r}; known: {', '.join(self.names)}") from None

    def point(self, name: str) -> np.ndarray | None:
        """LPS point of ``name``, or None when absent."""
        i = self.index(name)
        return self.points[i].copy() if self.present[i] else None

    def reorder(self, names: Sequence[str]) -> LandmarkSet:
        """The same landmarks in the order of ``names``; names missing here become absent."""
        index = {n: i for i, n in enumerate(self.names)}
        coords = np.full((len(names), 3), np.nan)
        present = np.zeros(len(names), dtype=bool)
        conf = None if self.confidence is None else np.full(len(names), np.nan)
        for j, name in enumerate(names):
            i = index.get(name)
            if i is None:
                continue
            coords[j], present[j] = self.points[i], self.present[i]
            if conf is not None:
                conf[j] = self.confidence[i]
        return LandmarkSet(tuple(names), coords, present, conf)

    def with_confidence(self, confidence: Sequence[float]) -> LandmarkSet:
        """A copy carrying one confidence value per landmark."""
        return LandmarkSet(self.names, self.points, self.present, np.asarray(confidence, dtype=np.float64))

    def allclose(self, other: LandmarkSet, *, atol: float = 1e-6) -> bool:
        """True when names, present flags and present points agree within ``atol`` mm."""
        return (
            self.names == other.names
            and bool(np.array_equal(self.present, other.present))
            and bool(np.allclose(self.points[self.present], other.points[other.present], atol=atol))
        )

    def to_dataframe(self) -> pd.DataFrame:
        """One row per landmark: name, x, y, z (LPS mm; NaN when absent), present, confidence (NaN if none)."""
        import pandas as pd

        confidence = self.confidence if self.confidence is not None else np.full(len(self.names), np.nan)
        return pd.DataFrame({
            "name": list(self.names),
            "x": self.points[:, 0], "y": self.points[:, 1], "z": self.points[:, 2],
            "present": self.present.copy(),
            "confidence": np.asarray(confidence, dtype=np.float64),
        })

    def write(self, path: str | Path) -> None:
        """Write to ``path`` in the format its suffix names: .mrk.json (3D Slicer), .fcsv, .json or .csv."""
        from nnlandmark.landmarks.io import write_landmarks

        write_landmarks(path, self)
