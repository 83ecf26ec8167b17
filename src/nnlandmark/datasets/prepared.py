"""Write a converted benchmark dataset in the own-data layout: images/, landmarks/, raters/, dataset.json."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from nnlandmark.datasets.checks import check_image, check_inside, check_test_cases
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, write_landmarks

log = logging.getLogger(__name__)

MANIFEST = "dataset.json"


class PreparedWriter:
    """Collects cases in a temporary sibling of ``out_dir``; :meth:`finish` renames it into place.

    So an interrupted or failed preparation never leaves a folder with a ``dataset.json`` behind.
    """

    def __init__(self, out_dir: Path, *, landmark_names: Sequence[str]) -> None:
        self.out_dir = Path(out_dir)
        self.names = tuple(landmark_names)
        self.tmp = self.out_dir.with_name(f".{self.out_dir.name}.partial-{uuid.uuid4().hex[:8]}")
        for sub in ("images", "landmarks"):
            (self.tmp / sub).mkdir(parents=True)
        self.cases: dict[str, dict[str, Any]] = {}

    def add(
        self,
        case_id: str,
        image: sitk.Image | Path,
        landmarks: LandmarkSet,
        *,
        raters: Mapping[str, LandmarkSet] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one case: the image (an in-memory image, or a file linked/copied as it is) and landmarks."""
        if case_id in self.cases:
            raise ValueError(f"case {case_id} added twice")
        if isinstance(image, sitk.Image):
            geometry = ImageGeometry.from_image(image)
            path = self.tmp / "images" / f"{case_id}.nii.gz"
            sitk.WriteImage(image, str(path), useCompression=True)
        else:
            geometry = check_image(Path(image), read_voxels=False)
            suffix = ".nii.gz" if image.name.endswith(".nii.gz") else image.suffix
            path = self.tmp / "images" / f"{case_id}{suffix}"
            _link_or_copy(Path(image), path)
        landmarks = landmarks.reorder(self.names)
        check_inside(landmarks, geometry, source=Path(str((info or {}).get("landmarks", case_id))))
        write_landmarks(self.tmp / "landmarks" / f"{case_id}.json", landmarks)
        for rater, rater_set in (raters or {}).items():
            (self.tmp / "raters" / rater).mkdir(parents=True, exist_ok=True)
            write_landmarks(self.tmp / "raters" / rater / f"{case_id}.json", rater_set.reorder(self.names))
        self.cases[case_id] = dict(info or {})

    def finish(self, *, name: str, test_cases: Sequence[str], extra: Mapping[str, Any] | None = None) -> Path:
        """Write dataset.json and move the folder into place; returns the manifest path."""
        check_test_cases(test_cases, self.cases)
        ids = sorted(self.cases)
        manifest = {
            "name": name,
            "landmarks": list(self.names),
            "training_cases": [c for c in ids if c not in set(test_cases)],
            "test_cases": sorted(test_cases),
            "raters": sorted(p.name for p in (self.tmp / "raters").glob("*")) if (self.tmp / "raters").is_dir() else [],
            "cases": {c: self.cases[c] for c in ids},
            **dict(extra or {}),
        }
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        os.replace(self.tmp, self.out_dir)
        log.info("prepared %s: %d training and %d test cases in %s", name, len(manifest["training_cases"]),
                 len(test_cases), self.out_dir)
        return self.out_dir / MANIFEST

    def abort(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it (no second copy of large images), else a copy."""
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)
