"""Published train/test case lists (config/splits/*.json: imagesTr, imagesTs, all) and checks against them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nnlandmark.datasets.checks import DatasetError


@dataclass(frozen=True)
class PaperSplit:
    """The training pool and held-out test cases of a published split."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    source: str

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.train) | set(self.test)))

    @classmethod
    def from_file(cls, path: Path | str) -> PaperSplit:
        """Read and check a split JSON file."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DatasetError(f"{path}: cannot read the split file ({err}); check the dataset's split:") from None
        if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("imagesTr", "imagesTs")):
            raise DatasetError(f"{path}: expected a JSON object with imagesTr and imagesTs lists of case ids")
        train, test = tuple(map(str, doc["imagesTr"])), tuple(map(str, doc["imagesTs"]))
        overlap = sorted(set(train) & set(test))
        if overlap:
            raise DatasetError(f"{path}: cases in both imagesTr and imagesTs: {', '.join(overlap[:10])}")
        return cls(train, test, str(path))

    def restricted(self, keep: Iterable[str]) -> PaperSplit:
        """The split limited to the case ids in ``keep`` (e.g. the subsets that could be fetched)."""
        keep = set(keep)
        return PaperSplit(tuple(c for c in self.train if c in keep), tuple(c for c in self.test if c in keep),
                          self.source)

    def check_cases(self, case_ids: Iterable[str], *, what: str) -> None:
        """The data must hold exactly the split's cases, case for case."""
        found, expected = set(case_ids), set(self.all)
        missing, extra = sorted(expected - found), sorted(found - expected)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} split cases missing from the data ({_sample(missing)})")
            if extra:
                parts.append(f"{len(extra)} cases not in the split ({_sample(extra)})")
            message = (
                f"{what} do not match the published split {self.source}: {'; '.join(parts)}. "
                "Check that the source holds the complete release, or set the dataset's split: to null "
                "to use the data as it is"
            )
            raise DatasetError(message)


def _sample(ids: list[str], limit: int = 8) -> str:
    return ", ".join(ids[:limit]) + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")
