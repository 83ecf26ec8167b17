"""GPU end-to-end check: train one fold of nnLandmarkTrainer on CUDA, then predict the test images on CUDA.

Run after bench/prepare_dataset.py (bench/gpu_check.sh does both); prints the fold's validation MRE, the test
MRE of the prediction and the wall times, and writes bench/results/gpu_e2e.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from common import WORK, write_result  # type: ignore[import-not-found]
from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, use_nnunet_folders

configure_nnunet_runtime(processes=4, data_workers=int(os.environ.get("GPU_E2E_WORKERS", "4")))
folders = use_nnunet_folders(WORK / "nnunet")

import torch  # noqa: E402

from nnlandmark.inference.landmark_predictor import load_model  # noqa: E402
from nnlandmark.inference.predict_folder import images_in_folder, predict_images  # noqa: E402
from nnlandmark.landmarks import read_landmarks  # noqa: E402
from nnlandmark.training.recipe import TrainingRecipe  # noqa: E402
from nnlandmark.training.run_fold import model_folder, train_fold  # noqa: E402


def main() -> None:
    prepared = json.loads((WORK / "nnunet" / "prepared.json").read_text())
    name = prepared["dataset"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    recipe = TrainingRecipe.from_config({"epochs": int(os.environ.get("GPU_E2E_EPOCHS", "10")),
                                         "iterations_per_epoch": 25, "val_iterations_per_epoch": 2,
                                         "optimizer": "adam", "learning_rate": 1e-3, "augmentation": False,
                                         "save_every": 5, "loss": "ssce"})
    start = time.perf_counter()
    fold_dir = train_fold(name, fold=0, configuration="3d_fullres", plans_name="nnUNetPlans",
                          recipe=recipe, device=device)
    train_s = time.perf_counter() - start
    validation = json.loads((fold_dir / "validation" / "summary.json").read_text())
    model = model_folder(name, plans_name="nnUNetPlans", configuration="3d_fullres")
    predictor = load_model(model, folds=[0], device=device)
    raw = Path(folders["nnUNet_raw"]) / name
    start = time.perf_counter()
    predictions = predict_images(predictor, images_in_folder(raw / "imagesTs"), WORK / "gpu_e2e_predictions")
    predict_s = time.perf_counter() - start
    errors = []
    for case, prediction in predictions.items():
        reference = read_landmarks(raw / "landmarksTs" / f"{case}.json").reorder(prediction.names)
        both = reference.present & prediction.present
        errors += list(np.linalg.norm(reference.points[both] - prediction.points[both], axis=1))
    payload = {"device": str(device), "epochs": recipe.epochs,
               "iterations": recipe.epochs * recipe.iterations_per_epoch, "train_and_validate_s": train_s,
               "validation_mre_mm": validation["mre_mm"], "test_cases": len(predictions), "predict_s": predict_s,
               "test_mre_mm": float(np.mean(errors)) if errors else None}
    print(json.dumps(payload, indent=2, default=str))
    write_result("gpu_e2e", payload)


if __name__ == "__main__":
    main()
