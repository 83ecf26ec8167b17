"""A case of a source dataset before conversion: image file, reference landmarks, optional raters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nnlandmark.landmarks import LandmarkSet


@dataclass(frozen=True)
class SourceCase:
    """One annotated image of a dataset, in our internal representation (LPS mm)."""

    case_id: str
    image: Path
    landmarks: LandmarkSet
    raters: dict[str, LandmarkSet] = field(default_factory=dict)
