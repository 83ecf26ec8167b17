"""nnLandmarkTrainer: nnU-Net's trainer, extended to heatmap regression of landmarks."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.collate_outputs import collate_outputs
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnlandmark.inference.landmark_predictor import build_network, predictor_for_network
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.inference.whole_case_validation import validate_cases
from nnlandmark.training.losses import HeatmapLoss
from nnlandmark.training.progress import epoch_line, fold_line, progress_log
from nnlandmark.training.recipe import TrainingRecipe
from nnlandmark.training.targets import blob_centroids


class nnLandmarkTrainer(nnUNetTrainer):  # noqa: N801 - nnU-Net names trainers in this style
    """One output channel per landmark (plus nnU-Net's unused channel 0), no deep supervision, no mirroring.

    Call :meth:`use_recipe` before ``initialize()``. Per-epoch validation logs a higher-is-better
    landmark score, 1 / (1 + MRE in mm), as ``mean_fg_dice`` so ``checkpoint_best`` follows localisation.
    """

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")) -> None:
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.enable_deep_supervision = False
        self.num_landmarks = len(self.label_manager.foreground_labels)
        # (left, right) landmark names put on their sides when validation decodes (set by run_fold)
        self.mirror_pairs: list[tuple[str, str]] = []
        # landmark pairs the training references do not keep apart (set by run_fold); None: no pair is parted
        self.may_share_place: list[tuple[str, str]] | None = None
        # where the training landmarks are (set by run_fold): an ssce_null fold is validated in the guided mode
        # too, which starts from it, so the guided mode gets an absence threshold of its own
        self.prior: LandmarkPrior | None = None
        self.use_recipe(TrainingRecipe())  # nnU-Net's defaults, plus ours

    def use_recipe(self, recipe: TrainingRecipe) -> None:
        """Apply the training recipe (budget, optimiser, sampling, loss); must come before ``initialize()``."""
        if self.was_initialized:
            raise RuntimeError("use_recipe() must be called before initialize()")
        self.recipe = recipe
        self.num_epochs = recipe.epochs
        self.num_iterations_per_epoch = recipe.iterations_per_epoch
        self.num_val_iterations_per_epoch = recipe.val_iterations_per_epoch
        self.initial_lr = recipe.learning_rate
        self.weight_decay = recipe.weight_decay
        self.save_every = recipe.save_every
        # nnU-Net's get_dataloaders hands both to its nnUNetDataLoader, as its probabilisticOversampling trainers do
        self.oversample_foreground_percent = recipe.oversample_foreground_percent
        self.probabilistic_oversampling = recipe.oversampling == "probabilistic"

    # --- what is trained -------------------------------------------------------------------------
    def build_network_architecture(self, plans_manager: PlansManager, configuration_manager: ConfigurationManager,
                                   num_input_channels: int, num_output_channels: int,
                                   enable_deep_supervision: bool = False) -> nn.Module:
        """The network prediction builds for this recipe (nnU-Net calls this with its new signature)."""
        if enable_deep_supervision:
            raise ValueError("nnLandmarkTrainer trains without deep supervision")
        return build_network(plans_manager, configuration_manager, num_input_channels=num_input_channels,
                             num_landmarks=num_output_channels - 1, activation=self.recipe.heatmap.activation)

    def _build_loss(self) -> HeatmapLoss:
        return HeatmapLoss(self.recipe.heatmap, spacing=self.configuration_manager.spacing)

    def configure_optimizers(self):  # noqa: ANN201 - nnU-Net's signature
        params = self.network.parameters()
        if self.recipe.optimizer == "adam":
            optimizer = torch.optim.Adam(params, self.initial_lr, weight_decay=self.weight_decay)
        else:
            optimizer = torch.optim.SGD(params, self.initial_lr, weight_decay=self.weight_decay, momentum=0.99,
                                        nesterov=True)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):  # noqa: ANN201, N802
        rotation, dummy_2d, initial_patch_size, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        # mirroring would swap left/right landmarks without swapping their channels
        self.inference_allowed_mirroring_axes = None
        if not self.recipe.augmentation:
            initial_patch_size = list(self.configuration_manager.patch_size)
        return rotation, dummy_2d, initial_patch_size, None

    def get_training_transforms(self, patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,  # noqa: ANN001, ANN201, N803
                                do_dummy_2d_data_aug, **kwargs):
        if not self.recipe.augmentation:
            return self.get_validation_transforms(deep_supervision_scales, **{
                k: kwargs[k] for k in ("is_cascaded", "foreground_labels", "regions", "ignore_label") if k in kwargs})
        return super().get_training_transforms(patch_size, rotation_for_DA, deep_supervision_scales, None,
                                               do_dummy_2d_data_aug, **kwargs)

    # --- per-epoch validation on patches ---------------------------------------------------------
    def validation_step(self, batch: dict) -> dict:
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        output = self.network(data)
        loss = self.loss(output, target)
        errors, seen = patch_errors_mm(output, target, self.num_landmarks, self.configuration_manager.spacing)
        return {"loss": loss.detach().cpu().numpy(), "error_sum": errors, "seen": seen}

    def on_validation_epoch_end(self, val_outputs: list[dict]) -> None:
        outputs = collate_outputs(val_outputs)
        error_sum = np.sum(outputs["error_sum"], 0)
        seen = np.sum(outputs["seen"], 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_landmark_mm = np.where(seen > 0, error_sum / np.maximum(seen, 1), np.nan)
        mre = float(error_sum.sum() / seen.sum()) if seen.sum() else float("nan")
        per_landmark_score = [float(1.0 / (1.0 + e)) if np.isfinite(e) else float("nan") for e in per_landmark_mm]
        score = 1.0 / (1.0 + mre) if np.isfinite(mre) else 0.0
        self.logger.log("mean_fg_dice", score, self.current_epoch)
        self.logger.log("dice_per_class_or_region", per_landmark_score, self.current_epoch)
        self.logger.log("val_losses", float(np.mean(outputs["loss"])), self.current_epoch)
        self.print_to_log_file(f"validation patches: MRE {mre:.2f} mm over {int(seen.sum())} landmarks "
                               f"(score 1/(1+MRE) = {score:.4f})")
        self.val_patch_mre_mm = mre

    def on_epoch_end(self) -> None:
        epoch = self.current_epoch
        super().on_epoch_end()
        starts = self.logger.get_value("epoch_start_timestamps", step=None)
        ends = self.logger.get_value("epoch_end_timestamps", step=None)
        durations = [end - start for start, end in zip(starts, ends)]
        progress_log.info(epoch_line(
            dataset=self.plans_manager.dataset_name, fold=self.fold, epoch=epoch + 1, num_epochs=self.num_epochs,
            train_loss=float(self.logger.get_value("train_losses", step=-1)),
            val_mre_mm=getattr(self, "val_patch_mre_mm", float("nan")), epoch_seconds=durations[-1],
            mean_epoch_seconds=float(np.mean(durations[-10:])),
        ))

    # --- final validation on whole cases ---------------------------------------------------------
    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        self.network.eval()
        spacing = self.configuration_manager.spacing
        predictor = predictor_for_network(self.network, self.plans_manager, self.configuration_manager,
                                          self.dataset_json, names=self.dataset_json["landmarks"],
                                          activation=self.recipe.heatmap.activation, device=self.device,
                                          sigma_vox=self.recipe.heatmap.sigma_per_axis(spacing),
                                          mirror_pairs=self.mirror_pairs, may_share_place=self.may_share_place,
                                          prior=self.prior)  # decoded as prediction decodes (prior_modes.py)
        _, val_keys = self.do_split()
        guided = None
        if predictor.activation == "log_probability" and self.prior is not None:
            guided = dataclasses.replace(predictor, inference="guided")
        out = Path(self.output_folder, "validation")
        summary = validate_cases(
            predictor, self.dataset_class(self.preprocessed_dataset_folder, val_keys),
            reference_folder=Path(os.environ["nnUNet_raw"]) / self.plans_manager.dataset_name / "landmarksTr",
            out_folder=out, on_case=lambda key: self.print_to_log_file(f"validated {key}"), guided=guided)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        self.print_to_log_file(f"Validation on {summary['n_cases']} whole cases: MRE {summary['mre_mm']:.2f} mm"
                               + (f" (guided mode {summary['guided_mre_mm']:.2f} mm)" if guided is not None else ""))
        progress_log.info(fold_line(dataset=self.plans_manager.dataset_name, fold=self.fold,
                                    n_cases=summary["n_cases"], mre_mm=summary["mre_mm"]))


def patch_errors_mm(output: torch.Tensor, labels: torch.Tensor, num_landmarks: int,
                    spacing: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-landmark sum of argmax errors (mm) and counts over the landmarks wholly inside the patches."""
    centroids = blob_centroids(labels, num_landmarks)
    logits = output[:, 1:].float()
    spatial = logits.shape[2:]
    flat = logits.flatten(2).argmax(-1)
    peaks = torch.stack(torch.unravel_index(flat, spatial), dim=-1).float()
    scale = torch.as_tensor(spacing, dtype=torch.float32, device=logits.device)
    errors = torch.linalg.norm((peaks - centroids.centres) * scale, dim=-1)
    valid = centroids.reliable
    error_sum = torch.where(valid, errors, torch.zeros_like(errors)).sum(0)
    return error_sum.cpu().numpy(), valid.sum(0).cpu().numpy()
