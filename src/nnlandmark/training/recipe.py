"""The training recipe: budget, optimiser, augmentation and heatmap loss, read from the ``train`` config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nnlandmark.training.losses import HeatmapLossConfig

LOSS_KEYS = {f.name for f in dataclasses.fields(HeatmapLossConfig)}


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything our trainer changes relative to nnU-Net's defaults (which are the defaults here)."""

    epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    optimizer: Literal["sgd", "adam"] = "sgd"
    learning_rate: float = 1e-2
    weight_decay: float = 3e-5
    augmentation: bool = True
    save_every: int = 50
    oversample_foreground_percent: float = 0.33
    # "nnunet": samples from index round(batch_size * (1 - percent)) on are forced to hold foreground, so none
    # at batch size 1; "probabilistic": each sample is, with probability percent (nnU-Net's own option).
    oversampling: Literal["probabilistic", "nnunet"] = "probabilistic"
    heatmap: HeatmapLossConfig = field(default_factory=HeatmapLossConfig)

    def __post_init__(self) -> None:
        for key in ("epochs", "iterations_per_epoch", "val_iterations_per_epoch", "save_every"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"train.optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"train.learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.oversample_foreground_percent <= 1.0:
            raise ValueError("train.oversample_foreground_percent must be in [0, 1], "
                             f"got {self.oversample_foreground_percent}")
        if self.oversampling not in ("probabilistic", "nnunet"):
            raise ValueError(f"train.oversampling must be 'probabilistic' or 'nnunet', got {self.oversampling!r}")

    @classmethod
    def from_config(cls, train: Mapping[str, Any]) -> TrainingRecipe:
        """Build from the ``train`` section of the workflow config (keys not about training are ignored)."""
        own = {f.name for f in dataclasses.fields(cls)} - {"heatmap"}
        kwargs = {k: train[k] for k in own if train.get(k) is not None}
        heatmap = HeatmapLossConfig(**{k: train[k] for k in LOSS_KEYS if train.get(k) is not None})
        return cls(heatmap=heatmap, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary (the ``train`` config layout), for JSON next to the model."""
        flat = dataclasses.asdict(self)
        flat.update(flat.pop("heatmap"))
        if flat["sigma_mm"] is None:  # unset: left out, so older recipes and fold fingerprints are unchanged
            del flat["sigma_mm"]
        return flat
