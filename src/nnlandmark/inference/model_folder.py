"""A trained model folder: its files, its folds and their checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnlandmark.errors import InputError

MODEL_INFO = "nnlandmark.json"
MODEL_FILES = (MODEL_INFO, "plans.json", "dataset.json")
DEFAULT_CHECKPOINT = "checkpoint_final.pth"
CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a damaged file is an :class:`InputError` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err}); copy the model folder again") from None


def check_model_folder(model_dir: Path) -> None:
    """``model_dir`` must exist and hold nnLandmark's and nnU-Net's model files."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        message = (f"model folder {model_dir} does not exist; pass a trained model folder "
                   "(.../nnUNet_results/DatasetNNN_X/nnLandmarkTrainer__<plans>__<configuration>) "
                   "or an exported model .zip")
        raise FileNotFoundError(message)
    for name in MODEL_FILES:
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name} is missing: is {model_dir} an nnLandmark model folder?")


def available_folds(model_dir: Path, checkpoint: str) -> list[int]:
    """Folds of ``model_dir`` that have ``checkpoint``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        message = f"model folder {model_dir} does not exist; pass the trained model folder with -m"
        raise FileNotFoundError(message)
    folds = sorted(int(p.parent.name.split("_")[1]) for p in model_dir.glob(f"fold_*/{checkpoint}")
                   if p.parent.name.split("_")[1].isdigit())
    if not folds:
        message = f"no fold_*/{checkpoint} in {model_dir}: is it a trained nnLandmark model folder?"
        raise FileNotFoundError(message)
    return folds


def checkpoint_files(model_dir: Path, folds: list[int] | tuple[int, ...], checkpoint: str) -> list[Path]:
    """Each fold's ``checkpoint`` file; a missing one is named, with what to do."""
    paths = [Path(model_dir) / f"fold_{fold}" / checkpoint for fold in folds]
    for fold, path in zip(folds, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: train fold {fold} first or choose other folds")
    return paths
