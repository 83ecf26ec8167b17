"""Predict the landmarks of every image in a folder and write JSON plus a 3D Slicer ``.mrk.json`` per case."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from tqdm import tqdm

from nnlandmark.datasets.folder import IMAGE_SUFFIXES, index_folder
from nnlandmark.inference.landmark_predictor import LandmarkPredictor
from nnlandmark.landmarks import LandmarkSet, write_landmarks

log = logging.getLogger(__name__)


def images_in_folder(folder: Path) -> dict[str, Path]:
    """Case id -> image file; nnU-Net's channel suffix ``_0000`` is dropped from the id."""
    return index_folder(folder, IMAGE_SUFFIXES, what="image", case_id_of=lambda name: re.sub(r"_0000$", "", name))


def predict_images(
    predictor: LandmarkPredictor, images: Mapping[str, Path], out_dir: Path
) -> dict[str, LandmarkSet]:
    """Predict each image; ``out_dir`` appears only when every case is done (written beside it, then renamed)."""
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    results = {}
    for case_id, image in tqdm(sorted(images.items()), desc="predicting", unit="case"):
        landmarks = predictor.predict_image(image)
        write_landmarks(partial / f"{case_id}.json", landmarks)
        write_landmarks(partial / f"{case_id}.mrk.json", landmarks)
        log.info("%s: %d landmarks, mean confidence %.3f", case_id, int(landmarks.present.sum()),
                 float(landmarks.confidence.mean()))
        results[case_id] = landmarks
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return results
