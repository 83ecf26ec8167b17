"""A fold's final validation: whole validation cases predicted, decoded to mm and compared to the exact landmarks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nnlandmark.inference.landmark_predictor import LandmarkPredictor, make_nnunet_predictor
from nnlandmark.landmarks import read_landmarks, write_landmarks

if TYPE_CHECKING:
    from nnlandmark.training.trainer import nnLandmarkTrainer


def validate_fold(trainer: nnLandmarkTrainer) -> dict[str, Any]:
    """Predict every validation case of the trainer's fold; write landmarks and return a summary in mm."""
    predictor = make_nnunet_predictor(device=trainer.device)
    predictor.manual_initialization(trainer.network, trainer.plans_manager, trainer.configuration_manager, None,
                                    trainer.dataset_json, trainer.__class__.__name__, None)
    names = tuple(trainer.dataset_json["landmarks"])
    landmark_predictor = LandmarkPredictor(predictor, names, trainer.recipe.heatmap.activation)
    raw = Path(os.environ["nnUNet_raw"]) / trainer.plans_manager.dataset_name / "landmarksTr"
    out = Path(trainer.output_folder) / "validation"
    out.mkdir(parents=True, exist_ok=True)
    _, val_keys = trainer.do_split()
    dataset = trainer.dataset_class(trainer.preprocessed_dataset_folder, val_keys)
    errors: dict[str, list[float]] = {n: [] for n in names}
    confidences: list[dict[str, Any]] = []
    with torch.no_grad():
        for key in dataset.identifiers:
            data, _, _, properties = dataset.load_case(key)
            prediction = landmark_predictor.predict_preprocessed(torch.from_numpy(np.asarray(data[:])), properties)
            write_landmarks(out / f"{key}.json", prediction)
            reference = read_landmarks(raw / f"{key}.json").reorder(names)
            for i, name in enumerate(names):
                if reference.present[i]:
                    errors[name].append(float(np.linalg.norm(prediction.points[i] - reference.points[i])))
                confidences.append({"case": key, "landmark": name, "reference_present": bool(reference.present[i]),
                                    "confidence": float(prediction.confidence[i])})
            trainer.print_to_log_file(f"validated {key}")
    all_errors = [e for v in errors.values() for e in v]
    return {
        "n_cases": len(dataset.identifiers),
        "mre_mm": float(np.mean(all_errors)) if all_errors else float("nan"),
        "median_mm": float(np.median(all_errors)) if all_errors else float("nan"),
        "per_landmark_mre_mm": {n: (float(np.mean(v)) if v else None) for n, v in errors.items()},
        "confidences": confidences,
    }
