"""Prediction builds the network the trainer trains, without importing the trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

from nnlandmark.inference.landmark_predictor import build_network


def test_predictor_network_matches_the_trainers(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer()
    channels = determine_num_input_channels(trainer.plans_manager, trainer.configuration_manager, trainer.dataset_json)
    # the call nnUNetTrainer.initialize() makes
    trained = trainer.build_network_architecture(trainer.plans_manager, trainer.configuration_manager, channels,
                                                 trainer.label_manager.num_segmentation_heads,
                                                 trainer.enable_deep_supervision)
    predicted = build_network(trainer.plans_manager, trainer.configuration_manager, num_input_channels=channels,
                              num_landmarks=trainer.num_landmarks)
    assert type(predicted) is type(trained)
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert {k: v.shape for k, v in predicted.state_dict().items()} == shapes
    assert predicted.decoder.deep_supervision is False and trained.decoder.deep_supervision is False
