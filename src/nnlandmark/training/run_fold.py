"""Train one cross-validation fold, resuming from its latest checkpoint when one exists."""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch
from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

from nnlandmark.checkpoints import UnreadableCheckpointError, allow_listed_loads, load_checkpoint
from nnlandmark.errors import InputError
from nnlandmark.inference.landmark_predictor import TRAINER_NAME, write_model_info
from nnlandmark.inference.landmark_prior import training_prior
from nnlandmark.landmarks import read_landmarks
from nnlandmark.inference.pair_sides import SAME_PLACE_SIGMAS
from nnlandmark.landmarks.landmark_set import LandmarkSet
from nnlandmark.landmarks.mirror_pairs import mirror_pairs_from_names, pairs_on_their_sides
from nnlandmark.landmarks.separation import closest_approach_mm, may_share_place
from nnlandmark.training.fold_provenance import fold_fingerprint, prepare_fold_dir
from nnlandmark.training.recipe import TrainingRecipe

log = logging.getLogger(__name__)


def model_folder(dataset_name: str, *, plans_name: str, configuration: str) -> Path:
    """nnU-Net's results folder of our trainer for a dataset."""
    return Path(os.environ["nnUNet_results"]) / dataset_name / f"{TRAINER_NAME}__{plans_name}__{configuration}"


def resume_checkpoint(fold_dir: Path) -> Path | None:
    """The checkpoint a re-run continues from: the final one, else the latest or best, whichever is newer.

    Both ``checkpoint_latest`` (every ``save_every`` epochs) and ``checkpoint_best`` hold the whole training
    state. A file cut short by a kill during ``torch.save`` is skipped, so the re-run continues from the
    previous good state instead of failing. One holding a type outside the allow-list raises
    :class:`~nnlandmark.checkpoints.UnsafeCheckpointError`: training on would overwrite it unnoticed.
    """
    newest, newest_epoch = None, -1
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"):
        path = fold_dir / name
        if not path.is_file():
            continue
        try:
            epoch = int(load_checkpoint(path, required=("current_epoch",))["current_epoch"])
        except UnreadableCheckpointError as error:  # one refused by the allow-list is raised, not skipped
            log.warning("not resuming from %s, probably cut short by a kill: %s", path.name, error)
            continue
        if name == "checkpoint_final.pth":
            return path
        if epoch > newest_epoch:
            newest, newest_epoch = path, epoch
    return newest


def training_references(raw_folder: Path, cases: Collection[str] | None = None) -> list[LandmarkSet]:
    """The exact training landmarks of a raw dataset folder (``landmarksTr/*.json``), of ``cases`` only if given."""
    paths = sorted((raw_folder / "landmarksTr").glob("*.json"))
    return [read_landmarks(path) for path in paths if cases is None or path.stem in cases]


def dataset_mirror_pairs(references: list[LandmarkSet], names: list[str]) -> list[tuple[str, str]]:
    """Left/right pairs of ``names`` whose sides every training reference agrees with."""
    candidates = mirror_pairs_from_names(names)
    if not candidates:
        return []
    kept, refused = pairs_on_their_sides(candidates, references)
    for left, right in refused:
        log.info("%s / %s: names say left/right, but the training references do not put %s at larger LPS x "
                 "in every case; decoded without side assignment", left, right, left)
    return kept


def dataset_may_share_place(
    references: list[LandmarkSet], names: list[str], *, sigma_mm: float
) -> list[tuple[str, str]]:
    """Pairs of ``names`` the training references do not keep apart by more than twice the same-place distance.

    Decoding treats two peaks within :data:`~nnlandmark.inference.pair_sides.SAME_PLACE_SIGMAS` sigma as one
    place; ``sigma_mm`` is the target's largest sigma in mm. Every other pair is parted when both peak at one
    place (:mod:`nnlandmark.inference.shared_places`).
    """
    closest = closest_approach_mm(references, names)
    return may_share_place(names, closest, apart_beyond_mm=2 * SAME_PLACE_SIGMAS * sigma_mm)


def train_fold(
    dataset_name: str,
    *,
    fold: int,
    configuration: str,
    plans_name: str,
    recipe: TrainingRecipe,
    device: torch.device,
    seed: int = 0,
) -> Path:
    """Train (or resume, or just re-validate) ``fold`` and return its output folder."""
    from nnlandmark.training.trainer import nnLandmarkTrainer

    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / dataset_name
    plans = json.loads((preprocessed / f"{plans_name}.json").read_text())
    dataset_json = json.loads((preprocessed / "dataset.json").read_text())
    fold_dir = model_folder(dataset_name, plans_name=plans_name, configuration=configuration) / f"fold_{fold}"
    final = fold_dir / "checkpoint_final.pth"
    splits = json.loads((preprocessed / "splits_final.json").read_text())
    if not 0 <= fold < len(splits):
        raise InputError(f"train.folds has fold {fold}, but splits_final.json has folds 0..{len(splits) - 1} "
                         f"(train.num_folds = {len(splits)}); choose folds in that range")
    fingerprint = fold_fingerprint(
        raw_folder=Path(os.environ["nnUNet_raw"]) / dataset_name, plans=plans, dataset_json=dataset_json,
        split=splits[fold], recipe=recipe.to_dict(), seed=seed,
    )
    prepare_fold_dir(fold_dir, fingerprint, fold=fold)
    resume_from = resume_checkpoint(fold_dir)
    plans["continue_training"] = resume_from is not None

    random.seed(seed + fold)
    np.random.seed(seed + fold)
    torch.manual_seed(seed + fold)
    trainer = nnLandmarkTrainer(plans, configuration, fold, dataset_json, device)
    trainer.use_recipe(recipe)
    raw_folder = Path(os.environ["nnUNet_raw"]) / dataset_name
    names = dataset_json["landmarks"]
    spacing = trainer.configuration_manager.spacing
    sigma_mm = max(s * d for s, d in zip(recipe.heatmap.sigma_per_axis(spacing), spacing))
    folder = trainer.preprocessed_dataset_folder
    dataset = infer_dataset_class(folder)(folder)

    def decoding_records(cases: Collection[str] | None) -> dict:
        """Mirror pairs, pairs that may share a place and the landmark prior of ``cases`` (all if None)."""
        references = training_references(raw_folder, cases)
        return {"mirror_pairs": dataset_mirror_pairs(references, names),
                "may_share_place": dataset_may_share_place(references, names, sigma_mm=sigma_mm),
                "prior": training_prior(dataset, reference_folder=raw_folder / "landmarksTr", names=names,
                                        transpose_forward=plans["transpose_forward"], cases=cases)}

    # the fold's validation decodes with what its own training cases show (no leakage into per-fold figures);
    # the model's record, for new images, comes from every training case
    own = decoding_records(set(splits[fold]["train"]))
    trainer.mirror_pairs, trainer.may_share_place, trainer.prior = (
        own["mirror_pairs"], own["may_share_place"], own["prior"])
    write_model_info(Path(trainer.output_folder_base), landmarks=names, configuration=configuration,
                     activation=recipe.heatmap.activation, recipe=recipe.to_dict(), **decoding_records(None))
    if resume_from is not None:
        log.info("fold %d: resuming from %s", fold, resume_from)
        with allow_listed_loads():  # nnU-Net's own torch.load(weights_only=False), made safe
            trainer.load_checkpoint(str(resume_from))
    if resume_from != final:
        trainer.run_training()
    if not (fold_dir / "validation" / "summary.json").is_file():
        trainer.perform_actual_validation()
    return fold_dir
