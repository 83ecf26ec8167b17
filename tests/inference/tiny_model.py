"""A tiny but real trained-model folder, made without training: random weights in nnU-Net's checkpoint layout."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnlandmark.inference.fold_records import FOLD_RECORD
from nnlandmark.inference.landmark_predictor import build_network, write_model_info
from tests.training.conftest import DATASET_JSON, LANDMARKS, PLANS

CONFIGURATION = "3d_fullres"
RECIPE = {"heatmap": {"sigma": 2.0, "activation": "softmax"}, "epochs": 1}
# Z-score normalisation ignores these, but nnU-Net's preprocessor looks them up per channel.
INTENSITIES = {"0": {"max": 400.0, "mean": 100.0, "median": 100.0, "min": 0.0, "percentile_00_5": 70.0,
                     "percentile_99_5": 300.0, "std": 10.0}}
FINGERPRINT = {"recipe": "r" * 64, "plans": "p" * 64, "dataset_json": "d" * 64, "split": "s", "data": "x"}


def make_model_folder(folder: Path, *, folds: Sequence[int] = (0, 1), records: bool = True,
                      activation: str = "softmax") -> Path:
    """``folder`` as training leaves it: plans, dataset.json, nnlandmark.json and per fold a checkpoint
    (different random weights each), a provenance record and a validation summary. ``activation``
    ``log_probability`` makes it a model of the ``ssce_null`` recipe."""
    folder.mkdir(parents=True, exist_ok=True)
    plans = {**copy.deepcopy(PLANS), "foreground_intensity_properties_per_channel": INTENSITIES}
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))
    (folder / "dataset.json").write_text(json.dumps(DATASET_JSON, indent=2))
    write_model_info(folder, landmarks=LANDMARKS, configuration=CONFIGURATION, activation=activation, recipe=RECIPE)
    plans_manager = PlansManager(plans)
    configuration = plans_manager.get_configuration(CONFIGURATION)
    for fold in folds:
        torch.manual_seed(100 + fold)
        network = build_network(plans_manager, configuration, num_input_channels=1, num_landmarks=len(LANDMARKS),
                                activation=activation)
        fold_dir = folder / f"fold_{fold}"
        (fold_dir / "validation").mkdir(parents=True, exist_ok=True)
        torch.save({"network_weights": network.state_dict(), "current_epoch": 1, "init_args": {"fold": fold},
                    "trainer_name": "nnLandmarkTrainer"}, fold_dir / "checkpoint_final.pth")
        if records:
            fingerprint = {**FINGERPRINT, "split": f"split{fold}", "data": f"data{fold}"}
            (fold_dir / FOLD_RECORD).write_text(json.dumps({"fingerprint": fingerprint}))
        summary = {"n_cases": 3, "mre_mm": 1.5 + fold, "median_mm": 1.0, "confidences": []}
        (fold_dir / "validation" / "summary.json").write_text(json.dumps(summary))
    return folder


def write_image(path: Path, *, size: tuple[int, int, int] = (16, 16, 8), spacing: tuple[float, ...] = (1.0, 1.0, 2.0),
                direction: tuple[float, ...] | None = None, seed: int = 0) -> Path:
    """A noise image with a bright blob, written to ``path``."""
    rng = np.random.default_rng(seed)
    array = rng.normal(100, 10, size=size[::-1]).astype(np.float32)
    array[size[2] // 2 - 1:size[2] // 2 + 1, 4:7, 5:9] += 200
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((-3.5, 12.25, 40.0))
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path
