"""Where each landmark usually lies in its image: the training set's positions as fractions of the grid.

Guided inference (:mod:`nnlandmark.inference.guided`) looks there first. Positions are fractions of the
preprocessed array along each of its axes (nnU-Net's transposed order), so they carry over to an image of
another size with the same field of view; the spread says how far to search when the first look misses.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnlandmark.inference.coordinates import world_to_preprocessed
from nnlandmark.landmarks import LandmarkSet, read_landmarks


@dataclass(frozen=True)
class LandmarkPrior:
    """Per landmark (K rows): mean and SD of its position as grid fractions; NaN rows for never-present ones."""

    mean: np.ndarray
    sd: np.ndarray
    n: np.ndarray

    @classmethod
    def from_fractions(cls, fractions: Iterable[np.ndarray]) -> LandmarkPrior:
        """From (K, 3) fraction arrays, one per case, NaN where a landmark is absent."""
        stack = np.stack(list(fractions)).astype(np.float64)
        n = np.sum(np.all(np.isfinite(stack), axis=-1), axis=0)
        with warnings.catch_warnings():  # a landmark absent in every case: NaN, said by n = 0
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            sd = np.nanstd(stack, axis=0)
        return cls(mean, sd, n)

    def to_dict(self) -> dict[str, Any]:
        def rows(a: np.ndarray) -> list[list[float] | None]:
            return [None if not np.all(np.isfinite(r)) else [round(float(v), 5) for v in r] for r in a]

        return {"axes": "fractions of the preprocessed grid (nnU-Net's transposed axis order)",
                "mean": rows(self.mean), "sd": rows(self.sd), "n": [int(v) for v in self.n]}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> LandmarkPrior:
        def array(rows: Sequence[Sequence[float] | None]) -> np.ndarray:
            return np.asarray([[np.nan] * 3 if r is None else list(r) for r in rows], dtype=np.float64).reshape(-1, 3)

        return cls(array(record["mean"]), array(record["sd"]), np.asarray(record["n"], dtype=int))

    def centres(self, shape: Sequence[int]) -> np.ndarray:
        """(K, 3) expected positions in voxels of a grid of ``shape`` (NaN rows where unknown)."""
        return self.mean * np.asarray(shape, dtype=np.float64) - 0.5

    def spread(self, shape: Sequence[int]) -> np.ndarray:
        """(K, 3) SD of the positions in voxels of a grid of ``shape``."""
        return self.sd * np.asarray(shape, dtype=np.float64)


def case_fractions(reference: LandmarkSet, *, preprocessed_shape: Sequence[int], properties: Mapping[str, Any],
                   transpose_forward: Sequence[int]) -> np.ndarray:
    """(K, 3) positions of ``reference`` as fractions of the preprocessed grid; NaN rows for absent landmarks."""
    points = np.where(reference.present[:, None], reference.points, 0.0)
    voxels = world_to_preprocessed(points, preprocessed_shape=preprocessed_shape, properties=properties,
                                   transpose_forward=transpose_forward)
    fractions = (voxels + 0.5) / np.asarray(preprocessed_shape, dtype=np.float64)
    fractions[~reference.present] = np.nan
    return fractions


def training_prior(dataset: Any, *, reference_folder: Path, names: Sequence[str],
                   transpose_forward: Sequence[int], cases: Collection[str] | None = None) -> LandmarkPrior:
    """The prior of every case of an nnU-Net preprocessed ``dataset`` with a ``<case>.json`` in ``reference_folder``
    (of ``cases`` only, if given).

    Only array shapes and nnU-Net's properties are read, not the image data.
    """
    fractions = []
    for key in dataset.identifiers:
        if cases is not None and key not in cases:
            continue
        path = Path(reference_folder) / f"{key}.json"
        if not path.is_file():
            continue
        data, _, _, properties = dataset.load_case(key)
        reference = read_landmarks(path).reorder(names)
        fractions.append(case_fractions(reference, preprocessed_shape=tuple(data.shape[1:]), properties=properties,
                                        transpose_forward=transpose_forward))
    if not fractions:
        return LandmarkPrior(np.full((len(names), 3), np.nan), np.full((len(names), 3), np.nan),
                             np.zeros(len(names), dtype=int))
    return LandmarkPrior.from_fractions(fractions)
