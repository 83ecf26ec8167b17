"""Prediction builds the network the trainer trains, without importing the trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as nnunet_trainer
from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

from nnlandmark.inference.landmark_predictor import build_network
from nnlandmark.inference.network import NullLogitNetwork, NullOutput
from nnlandmark.training.losses import HeatmapLossConfig
from nnlandmark.training.recipe import TrainingRecipe


@pytest.mark.parametrize(("loss", "wrapped"), [("ssce_null", True), ("ssce", False), ("mse", False)])
def test_predictor_network_matches_the_trainers(make_trainer: Callable[..., Any], loss: str, wrapped: bool) -> None:
    trainer = make_trainer()
    trainer.use_recipe(TrainingRecipe(heatmap=HeatmapLossConfig(loss=loss)))
    channels = determine_num_input_channels(trainer.plans_manager, trainer.configuration_manager, trainer.dataset_json)
    # the call nnUNetTrainer.initialize() makes
    trained = trainer.build_network_architecture(trainer.plans_manager, trainer.configuration_manager, channels,
                                                 trainer.label_manager.num_segmentation_heads,
                                                 trainer.enable_deep_supervision)
    predicted = build_network(trainer.plans_manager, trainer.configuration_manager, num_input_channels=channels,
                              num_landmarks=trainer.num_landmarks, activation=trainer.recipe.heatmap.activation)
    assert type(predicted) is type(trained)
    assert isinstance(trained, NullLogitNetwork) is wrapped
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert {k: v.shape for k, v in predicted.state_dict().items()} == shapes
    assert predicted.decoder.deep_supervision is False and trained.decoder.deep_supervision is False


def test_trainer_trains_the_wrapper_it_builds(make_trainer: Callable[..., Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """initialize() -> nnU-Net's deep-supervision switch -> train_step: the loss falls on a fixed batch."""
    monkeypatch.setattr(nnunet_trainer, "infer_dataset_class", lambda folder: None)  # no preprocessed data here
    trainer = make_trainer()
    trainer.use_recipe(TrainingRecipe(optimizer="adam", learning_rate=1e-2))
    trainer.initialize()
    assert isinstance(trainer.network, NullLogitNetwork)
    trainer.set_deep_supervision_enabled(False)  # what nnU-Net's on_train_start does
    torch.manual_seed(0)
    labels = torch.zeros(1, 1, 8, 8, 8)
    labels[0, 0, 2:5, 3:6, 2:5] = 1  # landmark 1 wholly in the patch; landmark 2 not in it
    batch = {"data": torch.randn(1, 1, 8, 8, 8) + 3 * labels, "target": labels}
    trainer.network.train()
    losses = [float(trainer.train_step(batch)["loss"]) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert isinstance(trainer.network(batch["data"]), NullOutput)  # training mode: with its exact null
    trainer.network.eval()
    output = trainer.network(batch["data"])
    assert output.shape == (1, 3, 8, 8, 8)
    assert torch.all(output[:, 1:] <= 0) and torch.all(output[:, 0] == 0)
