"""Foreground oversampling at batch size 1: the dataloader our trainer builds forces landmark patches per sample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nnlandmark.training.recipe import TrainingRecipe

DRAWS = 400
PERCENT = 0.33


class InMemoryCases:
    """What nnUNetDataLoader reads of a preprocessed dataset: identifiers and ``load_case``."""

    def __init__(self, *, shape: tuple[int, int, int] = (64, 64, 64)) -> None:
        rng = np.random.default_rng(0)
        self.identifiers = ["case_0"]
        self.data = rng.normal(size=(1, *shape)).astype(np.float32)
        self.seg = np.zeros((1, *shape), dtype=np.int16)
        self.seg[0, 9:12, 9:12, 9:12] = 1  # one 3-voxel blob per landmark, far apart in a 64^3 image
        self.seg[0, 50:53, 40:43, 20:23] = 2
        self.properties = {"class_locations": {label: np.argwhere(self.seg == label) for label in (1, 2)}}

    def load_case(self, identifier: str) -> tuple[np.ndarray, np.ndarray, None, dict]:
        return self.data, self.seg, None, self.properties


def training_loader(trainer: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The training dataloader nnU-Net's ``get_dataloaders`` builds for ``trainer``, over :class:`InMemoryCases`."""
    cases = InMemoryCases()
    monkeypatch.setattr(trainer, "get_tr_and_val_datasets", lambda: (cases, cases))
    trainer.dataset_class = InMemoryCases  # skips nnU-Net's look at the preprocessed folder
    trainer._set_batch_size_and_oversample()  # what initialize() does first
    loader, _ = trainer.get_dataloaders()
    return loader


@pytest.mark.parametrize(("oversampling", "low", "high"), [("probabilistic", PERCENT - 0.07, PERCENT + 0.07),
                                                          ("nnunet", 0.0, 0.05)])
def test_share_of_patches_with_a_landmark_at_batch_size_one(
    make_trainer: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, oversampling: str, low: float, high: float
) -> None:
    trainer = make_trainer(batch_size=1)
    trainer.use_recipe(TrainingRecipe(augmentation=False, oversample_foreground_percent=PERCENT,
                                      oversampling=oversampling))
    loader = training_loader(trainer, monkeypatch)
    assert trainer.batch_size == 1
    np.random.seed(0)
    forced = np.mean([loader.data_loader.get_do_oversample(0) for _ in range(DRAWS)])
    with_landmark = np.mean([bool(next(loader)["target"].max() > 0) for _ in range(DRAWS)])
    # a random 8^3 patch of the 64^3 image holds a blob about 1 % of the time
    if oversampling == "nnunet":
        assert forced == 0.0  # nnU-Net's rule: not 0 < round(1 * (1 - 0.33)) = 1
    assert low <= forced <= high
    assert low <= with_landmark <= high


def test_probabilistic_oversampling_is_the_default(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer()
    assert TrainingRecipe().oversampling == "probabilistic"
    assert trainer.probabilistic_oversampling and trainer.oversample_foreground_percent == PERCENT
    trainer.use_recipe(TrainingRecipe(oversampling="nnunet", oversample_foreground_percent=0.5))
    assert not trainer.probabilistic_oversampling and trainer.oversample_foreground_percent == 0.5
    assert TrainingRecipe.from_config({"oversampling": "nnunet"}).to_dict()["oversampling"] == "nnunet"


@pytest.mark.parametrize(("train", "message"), [({"oversampling": "always"}, "train.oversampling"),
                                                ({"oversample_foreground_percent": 1.5},
                                                 "train.oversample_foreground_percent")])
def test_bad_oversampling_values_name_the_key(train: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingRecipe.from_config(train)
