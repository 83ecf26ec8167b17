"""The ssce_null network: nnU-Net's U-Net plus a null logit per landmark, normalised to log-probabilities."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnlandmark.inference.landmark_predictor import build_network, load_model, write_model_info
from nnlandmark.inference.network import LOG_PROB_FLOOR, NullLogitNetwork, log_probabilities
from nnlandmark.training.recipe import TrainingRecipe
from tests.inference.tiny_model import CONFIGURATION, make_model_folder, write_image
from tests.training.conftest import LANDMARKS, PLANS


def tiny(activation: str) -> torch.nn.Module:
    plans = PlansManager(copy.deepcopy(PLANS))
    torch.manual_seed(0)
    return build_network(plans, plans.get_configuration("3d_fullres"), num_input_channels=1, num_landmarks=2,
                         activation=activation)


def test_wrapper_keeps_the_unets_weights_and_adds_the_null_head() -> None:
    plain, wrapped = tiny("softmax"), tiny("log_probability")
    assert isinstance(wrapped, NullLogitNetwork) and not isinstance(plain, NullLogitNetwork)
    assert set(wrapped.state_dict()) == set(plain.state_dict()) | {"null_head.linear.weight", "null_head.linear.bias"}
    wrapped.decoder.deep_supervision = True  # what nnU-Net's trainer may switch, on the U-Net's own decoder
    with pytest.raises(RuntimeError, match="deep_supervision"):
        wrapped(torch.randn(1, 1, 8, 8, 8))


def test_an_old_models_weights_load_into_the_plain_network_only() -> None:
    weights = tiny("softmax").state_dict()
    tiny("softmax").load_state_dict(weights)
    tiny("sigmoid").load_state_dict(weights)
    with pytest.raises(RuntimeError, match="null_head"):
        tiny("log_probability").load_state_dict(weights)


def test_output_is_a_distribution_over_the_patch_and_null_starting_undecided() -> None:
    network = tiny("log_probability").eval()
    with torch.no_grad():
        output = network(torch.randn(2, 1, 8, 8, 8))
    assert output.shape == (2, 3, 8, 8, 8) and output.dtype == torch.float32
    assert torch.all(output[:, 0] == 0) and torch.all(output[:, 1:] <= 0)
    in_patch = output[:, 1:].exp().flatten(2).sum(-1)
    # the null logit starts at log(voxels in the patch): neither sure of the landmark nor of its absence
    assert torch.all((in_patch > 0.05) & (in_patch < 0.95))


def test_normalisation_is_exact_invariant_to_a_level_and_floored() -> None:
    torch.manual_seed(1)
    seg, null = torch.randn(1, 3, 4, 5, 6), torch.randn(1, 2)
    output = log_probabilities(seg, null)
    dense = torch.log_softmax(torch.cat([seg[:, 1:].flatten(2), null[..., None]], -1), -1)
    torch.testing.assert_close(output.log_probs[:, 1:].flatten(2), dense[..., :-1])
    torch.testing.assert_close(output.log_null, dense[..., -1])
    shifted = log_probabilities(seg.half() + 30.0, null.half() + 30.0)  # float16 raw logits, as under autocast
    assert shifted.log_probs.dtype == torch.float32
    torch.testing.assert_close(shifted.log_probs, output.log_probs, atol=0.03, rtol=0)
    far = torch.cat([seg[:, :1], seg[:, 1:] - 500.0], 1)
    assert float(log_probabilities(far, null).log_probs.min()) < -500  # training: every voxel keeps its gradient
    assert float(log_probabilities(far, null, floor=LOG_PROB_FLOOR).log_probs.min()) == LOG_PROB_FLOOR  # predicting


def test_a_trained_ssce_null_model_folder_loads_its_wrapper_and_sigma(tmp_path: Path) -> None:
    """load_model builds the network from nnlandmark.json's activation and the confidence box from its recipe."""
    folder = make_model_folder(tmp_path / "model", folds=(0, 1))
    recipe = TrainingRecipe.from_config({"loss": "ssce_null", "sigma_mm": 2.0}).to_dict()
    write_model_info(folder, landmarks=LANDMARKS, configuration=CONFIGURATION, activation="log_probability",
                     recipe=recipe)
    for fold in (0, 1):
        checkpoint = folder / f"fold_{fold}" / "checkpoint_final.pth"
        saved = torch.load(checkpoint, weights_only=False)
        saved["network_weights"] = tiny("log_probability").state_dict()
        torch.save(saved, checkpoint)
    predictor = load_model(folder, folds=[0, 1], device=torch.device("cpu"))
    assert isinstance(predictor.predictor.network, NullLogitNetwork)
    assert predictor.activation == "log_probability"
    assert predictor.confidence_radius == (2, 4, 4)  # sigma 2 mm on the plans' (2, 1, 1) mm grid: (1, 2, 2) voxels
    found = predictor.predict_image(write_image(tmp_path / "image.nii.gz"))
    assert found.points.shape == (2, 3) and np.all((found.confidence >= 0) & (found.confidence <= 1))
