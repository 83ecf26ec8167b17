"""Predict the landmarks of every image in a folder and write JSON plus a 3D Slicer ``.mrk.json`` per case."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import SimpleITK as sitk
from tqdm import tqdm

from nnlandmark.datasets.folder import IMAGE_SUFFIXES, index_folder
from nnlandmark.errors import InputError
from nnlandmark.inference.landmark_predictor import LandmarkPredictor
from nnlandmark.landmarks import LandmarkSet, write_landmarks

log = logging.getLogger(__name__)

_LISTED_PROBLEMS = 5


def _without_channel_suffix(name: str) -> str:
    return re.sub(r"_0000$", "", name)


def images_in_folder(folder: Path) -> dict[str, Path]:
    """Case id -> image file; nnU-Net's channel suffix ``_0000`` is dropped from the id.

    Models take one image per case (one channel), so a file named as another channel of a case
    (``<case>_0001``) is refused rather than predicted as a case of its own.
    """
    images = index_folder(folder, IMAGE_SUFFIXES, what="image", case_id_of=_without_channel_suffix)
    for case_id, path in images.items():
        match = re.fullmatch(r"(.+)_(\d{4})", case_id)
        if match and match.group(1) in images:
            raise InputError(f"{path}: named as channel {int(match.group(2))} of case {match.group(1)!r}, but models "
                             "take one image (channel) per case; move it out of the input folder, or rename it if "
                             "it is a case of its own")
    return images


def check_output_folder(out_dir: Path, *, images_dir: Path) -> None:
    """``out_dir`` may exist or not, but must not be a file, nor ``images_dir`` or a folder inside it."""
    out, images = Path(out_dir).resolve(), Path(images_dir).resolve()
    if out == images or images in out.parents:
        where = "is the image folder" if out == images else f"is inside the image folder {images_dir}"
        raise InputError(f"output folder {out_dir} {where}; choose an output folder outside it")
    if out.exists() and not out.is_dir():
        message = f"output {out_dir} is an existing file, not a folder; choose a folder (created if missing)"
        raise InputError(message)


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be predicted (unreadable, not 3-D, not scalar), or None; reads the header only."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        detail = " ".join(str(err).split("sitk::ERROR:")[-1].split())[:200]  # without ITK's source location
        return f"not a readable image ({detail})"
    if reader.GetDimension() != 3:
        return f"a {reader.GetDimension()}-D image, but models predict 3-D images"
    if reader.GetNumberOfComponents() != 1:
        return f"{reader.GetNumberOfComponents()} values per voxel, but models take one (a scalar image)"
    return None


def check_images(images: Mapping[str, Path]) -> None:
    """Every image must be a readable 3-D scalar image; checks the headers before anything is predicted."""
    problems = [f"{path}: {problem}" for path in images.values() if (problem := image_problem(path))]
    if problems:
        listed = "; ".join(problems[:_LISTED_PROBLEMS])
        more = f"; and {len(problems) - _LISTED_PROBLEMS} more" if len(problems) > _LISTED_PROBLEMS else ""
        message = (
            f"{len(problems)} of {len(images)} images cannot be predicted: {listed}{more}; "
            "convert them to 3-D scalar images or move them out of the input folder"
        )
        raise InputError(message)


def predict_images(
    predictor: LandmarkPredictor, images: Mapping[str, Path], out_dir: Path
) -> dict[str, LandmarkSet]:
    """Predict each image and write ``<case>.mrk.json``, then ``<case>.json``, into ``out_dir``.

    ``out_dir`` is created when missing and nothing in it is removed; only a case's own two files are
    replaced. Each file is written to a temporary file and renamed, so an interrupted run leaves whole
    files of the cases done so far, and a ``<case>.json`` only once its ``.mrk.json`` is there.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create output folder {out_dir} ({err.strerror}); choose another") from None
    results = {}
    for case_id, image in tqdm(sorted(images.items()), desc="predicting", unit="case"):
        landmarks = predictor.predict_image(image)
        write_landmarks(out_dir / f"{case_id}.mrk.json", landmarks)
        write_landmarks(out_dir / f"{case_id}.json", landmarks)
        cost = getattr(predictor, "last_cost", {}) or {}
        log.info("%s: %d landmarks, mean confidence %.3f (%s inference, %s network evaluations)", case_id,
                 int(landmarks.present.sum()), float(landmarks.confidence.mean()), cost.get("inference", "full"),
                 cost.get("evaluations", "?"))
        results[case_id] = landmarks
    return results
