"""A fold's final validation: whole validation cases predicted, decoded to mm and compared to the exact landmarks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetBaseDataset

from nnlandmark.inference.landmark_predictor import LandmarkPredictor
from nnlandmark.landmarks import LandmarkSet, read_landmarks, write_landmarks


# An error above this many voxels of the finest target spacing is a gross failure (a wrong structure,
# not an imprecise one).
GROSS_ERROR_VOXELS = 10.0


def gross_error_threshold_mm(spacing: Sequence[float]) -> float:
    """The gross-failure distance: :data:`GROSS_ERROR_VOXELS` voxels of the finest axis of ``spacing``."""
    return GROSS_ERROR_VOXELS * float(min(spacing))


def point_errors(prediction: LandmarkSet, reference: LandmarkSet) -> list[float | None]:
    """Per landmark, the distance (mm) from the predicted to the reference point; None where the reference
    is absent."""
    return [float(np.linalg.norm(p - r)) if present else None
            for p, r, present in zip(prediction.points, reference.points, reference.present)]


def validate_cases(
    predictor: LandmarkPredictor,
    dataset: nnUNetBaseDataset,
    *,
    reference_folder: Path,
    out_folder: Path,
    on_case: Callable[[str], object] | None = None,
    guided: LandmarkPredictor | None = None,
) -> dict[str, Any]:
    """Predict every preprocessed case of ``dataset``, write ``out_folder/<case>.json``; return a summary in mm.

    ``reference_folder`` holds the exact landmarks (``<case>.json``, LPS mm); ``on_case`` is told each case done.
    The summary counts gross failures (``n_gross``: errors above ``gross_error_mm``, 10 voxels of the finest
    target spacing) and gives the largest error, so a fold's single wild landmarks show beside its MRE.
    ``confidences`` holds one record per case and landmark (confidence, and ``error_mm`` where the reference
    is present): the absence threshold is chosen on them (:mod:`nnlandmark.inference.absence`).

    ``guided``: the same network in the guided mode (:mod:`nnlandmark.inference.guided`). Each case is then
    predicted that way too, and each record gets ``guided_confidence`` and ``guided_error_mm``: the guided
    mode's confidences come from windows centred on the landmark, not from the stitched sliding window, so
    its absence threshold is chosen on its own (``threshold_from_validation(..., inference="guided")``).
    The summary adds ``guided_mre_mm`` and ``guided_n_gross``.
    """
    names = predictor.names
    out_folder.mkdir(parents=True, exist_ok=True)
    errors: dict[str, list[float]] = {n: [] for n in names}
    confidences: list[dict[str, Any]] = []
    guided_errors: list[float] = []
    with torch.no_grad():
        for key in dataset.identifiers:
            data, _, _, properties = dataset.load_case(key)
            image = torch.from_numpy(np.asarray(data[:]))
            prediction = predictor.predict_preprocessed(image, properties)
            write_landmarks(out_folder / f"{key}.json", prediction)
            searched = guided.predict_preprocessed(image, properties) if guided is not None else None
            reference = read_landmarks(reference_folder / f"{key}.json").reorder(names)
            case_errors = point_errors(prediction, reference)
            guided_case_errors = point_errors(searched, reference) if searched is not None else None
            for i, name in enumerate(names):
                if reference.present[i]:
                    errors[name].append(case_errors[i])
                record = {"case": key, "landmark": name, "reference_present": bool(reference.present[i]),
                          "confidence": float(prediction.confidence[i]), "error_mm": case_errors[i]}
                if searched is not None:
                    if reference.present[i]:
                        guided_errors.append(guided_case_errors[i])
                    record.update(guided_confidence=float(searched.confidence[i]),
                                  guided_error_mm=guided_case_errors[i])
                confidences.append(record)
            if on_case is not None:
                on_case(key)
    all_errors = [e for v in errors.values() for e in v]
    gross_mm = gross_error_threshold_mm(predictor.configuration_manager.spacing)
    summary = {
        "n_cases": len(dataset.identifiers),
        "n_landmarks": len(all_errors),
        "mre_mm": float(np.mean(all_errors)) if all_errors else float("nan"),
        "median_mm": float(np.median(all_errors)) if all_errors else float("nan"),
        "max_mm": float(np.max(all_errors)) if all_errors else float("nan"),
        "gross_error_mm": gross_mm,
        "n_gross": int(sum(e > gross_mm for e in all_errors)),
        "per_landmark_mre_mm": {n: (float(np.mean(v)) if v else None) for n, v in errors.items()},
        "confidences": confidences,
    }
    if guided is not None:
        summary["guided_mre_mm"] = float(np.mean(guided_errors)) if guided_errors else float("nan")
        summary["guided_n_gross"] = int(sum(e > gross_mm for e in guided_errors))
    return summary
