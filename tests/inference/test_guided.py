"""Guided inference: the same landmarks as the full sliding window from far fewer network evaluations.

Perfect models (exact log-probabilities computed from where each window is) on images larger than the
patch; the full sliding window is the reference. Folds, absent landmarks, landmarks with no prior, and a
mirror pair whose channels both peak on one twin are each checked against it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nnlandmark.errors import InputError
from nnlandmark.inference.landmark_predictor import LandmarkPredictor, predictor_for_network
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.landmarks import LandmarkSet
from tests.inference import perfect_model as pm

IMAGE = (40, 112, 112)   # the real-size config's preprocessed grid
PATCH = (32, 48, 48)     # 2 x 4 x 4 = 32 windows in the full mode
NAMES = ("a", "b", "c", "d", "e", "border", "missing")
MISSING = [-400.0, 60.0, 60.0]   # the case does not have it: every window says "not here"
CENTRES = np.array([[20.3, 30.2, 40.7], [22.6, 35.5, 45.1], [18.1, 80.4, 30.2], [25.7, 84.6, 90.3],
                    [12.4, 56.6, 58.2], [1.4, 108.3, 4.6], MISSING])


def exact_prior(centres: np.ndarray, shape: tuple[int, ...], *, shift: float = 0.0, sd: float = 3.0) -> LandmarkPrior:
    """A prior whose means are the landmarks (moved by ``shift`` voxels), with an SD of ``sd`` voxels per axis."""
    size = np.asarray(shape, dtype=np.float64)
    fractions = (centres + shift + 0.5) / size
    fractions[~np.all(np.abs(centres) < 300, axis=1)] = (size / 2 + 0.5) / size  # where training saw it
    return LandmarkPrior(fractions, np.full_like(fractions, 1.0) * sd / size, np.full(len(centres), 20))


def make_predictor(network: nn.Module, names: tuple[str, ...], *, inference: str, prior: LandmarkPrior | None,
                   folds: list[dict] | None = None, pairs: tuple = (), absent_below: float = 0.5,
                   may_share_place: list | None = None) -> LandmarkPredictor:
    plans = pm.plans(PATCH)
    return predictor_for_network(network, plans, plans.get_configuration("3d_fullres"), pm.dataset_json(names),
                                 names=names, activation="log_probability", device=torch.device("cpu"),
                                 parameters=folds, sigma_vox=pm.SIGMA_VOX, absent_below=absent_below, inference=inference,
                                 prior=prior, mirror_pairs=pairs, may_share_place=may_share_place)


def predict(predictor: LandmarkPredictor) -> LandmarkSet:
    return predictor.predict_preprocessed(pm.coordinate_image(IMAGE), pm.identity_properties(IMAGE))


def zyx(landmarks: LandmarkSet) -> np.ndarray:
    return landmarks.points[:, ::-1]  # identity geometry: world (x, y, z) mm = voxel (x, y, z)


@pytest.fixture(scope="module")
def full() -> tuple[LandmarkSet, dict]:
    predictor = make_predictor(pm.null_network(CENTRES, amplitude=3.0, seed=1), NAMES, inference="full", prior=None)
    return predict(predictor), predictor.last_cost


@pytest.mark.parametrize("shift", [0.0, 6.0])
def test_guided_finds_what_the_full_window_finds_with_a_fraction_of_the_evaluations(full: tuple, shift: float) -> None:
    reference, full_cost = full
    predictor = make_predictor(pm.null_network(CENTRES, amplitude=3.0, seed=1), NAMES, inference="guided",
                               prior=exact_prior(CENTRES, IMAGE, shift=shift))
    guided = predict(predictor)
    present = reference.present
    assert list(present) == [True] * 6 + [False] and list(guided.present) == list(present)
    assert np.abs(zyx(guided)[present] - CENTRES[present]).max() < 0.25
    # the full mode's float16 stitching puts the border landmark ~0.5 voxel off; a centred window does not
    assert np.abs(zyx(guided)[present] - zyx(reference)[present]).max() < 0.5
    assert full_cost == {"inference": "full", "windows": 32, "evaluations": 32}
    # 5 windows for the prior's groups, 8 to search the absent landmark's box (3 SD around its prior), a few
    # to centre landmarks found off-centre: under half the full grid on this small image
    assert predictor.last_cost["evaluations"] <= 16, predictor.last_cost


def test_without_a_prior_the_search_walks_the_grid_and_still_finds_every_landmark(full: tuple) -> None:
    reference, _ = full
    predictor = make_predictor(pm.null_network(CENTRES), NAMES, inference="guided", prior=None)
    guided = predict(predictor)
    assert list(guided.present) == list(reference.present)
    assert np.abs(zyx(guided)[:6] - CENTRES[:6]).max() < 0.25
    # the absent landmark costs the whole grid, plus the centring windows
    assert 32 <= predictor.last_cost["windows"] <= 32 + 6


def test_folds_are_averaged_window_by_window_as_in_the_full_mode() -> None:
    fold_b = CENTRES.copy()
    fold_b[0, 2] += 4.0  # fold B puts "a" 4 voxels further in x: the geometric mean peaks halfway
    folds = [pm.null_network(c).state_dict() for c in (CENTRES, fold_b)]
    results = {}
    for inference in ("full", "guided"):
        predictor = make_predictor(pm.null_network(CENTRES), NAMES, inference=inference,
                                   prior=exact_prior(CENTRES, IMAGE), folds=folds)
        results[inference] = predict(predictor)
        if inference == "guided":
            assert predictor.last_cost["evaluations"] == 2 * predictor.last_cost["windows"]
    assert zyx(results["guided"])[0, 2] == pytest.approx(CENTRES[0, 2] + 2.0, abs=0.1)
    np.testing.assert_allclose(zyx(results["guided"])[:5], zyx(results["full"])[:5], atol=0.1)
    np.testing.assert_allclose(zyx(results["guided"])[5], zyx(results["full"])[5], atol=0.5)  # full: float16 border
    np.testing.assert_allclose(results["guided"].confidence[:6], results["full"].confidence[:6], atol=0.1)


class MixtureModel(nn.Module):
    """Exact log-probabilities of channels that are mixtures of Gaussians (centre, mass), from window coordinates."""

    def __init__(self, channels: list[list[tuple[np.ndarray, float]]]) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = x[0].double()
        sigma = torch.tensor(pm.SIGMA_VOX, dtype=torch.float64)[:, None, None, None]
        norm = (2 * math.pi) ** 1.5 * float(np.prod(pm.SIGMA_VOX))
        outputs = [torch.zeros_like(coords[0])]
        for components in self.channels:
            density = sum(mass / norm * torch.exp(-0.5 * (((coords - torch.tensor(c)[:, None, None, None]) / sigma) ** 2)
                                                  .sum(0)) for c, mass in components)
            outputs.append(torch.log(density).clamp(min=-100.0))
        return torch.stack(outputs)[None].float()


def test_a_pair_on_one_twin_is_split_by_the_patient_sides() -> None:
    """Both channels peak on the right twin (smaller x: patient right); the left one goes to the other twin."""
    left_twin, right_twin = np.array([20.0, 60.0, 90.0]), np.array([20.0, 60.0, 20.0])
    model = MixtureModel([[(right_twin, 0.6), (left_twin, 0.3)], [(right_twin, 0.9), (left_twin, 0.05)]])
    names = ("x_L", "x_R")
    for inference in ("full", "guided"):
        predictor = make_predictor(model, names, inference=inference, prior=exact_prior(
            np.stack([right_twin, right_twin]), IMAGE), pairs=[("x_L", "x_R")], absent_below=0.1)
        result = predict(predictor)
        np.testing.assert_allclose(zyx(result), np.stack([left_twin, right_twin]), atol=0.1, err_msg=inference)


def test_a_landmark_on_another_ones_structure_moves_to_its_own_in_both_modes() -> None:
    """The pole channel is surer of the cone apex than of its pole, 50 voxels away; the prior points at the apex."""
    cone, pole = np.array([20.0, 30.0, 30.0]), np.array([20.0, 80.0, 80.0])
    model = MixtureModel([[(cone, 0.9)], [(cone, 0.5), (pole, 0.4)]])
    names = ("cone_apex", "pole")
    for inference in ("full", "guided"):
        results = {}
        for may_share in (None, []):  # a model without the record, and one that keeps every pair apart
            predictor = make_predictor(model, names, inference=inference, prior=exact_prior(np.stack([cone, cone]), IMAGE),
                                       absent_below=0.1, may_share_place=may_share)
            results[may_share is None] = predict(predictor)
        np.testing.assert_allclose(zyx(results[True]), np.stack([cone, cone]), atol=0.1, err_msg=inference)
        np.testing.assert_allclose(zyx(results[False]), np.stack([cone, pole]), atol=0.1, err_msg=inference)
        assert results[False].confidence[1] == pytest.approx(0.4, abs=0.1)


def test_guided_needs_a_null_model() -> None:
    plans = pm.plans(PATCH)
    with pytest.raises(InputError, match="ssce_null"):
        predictor_for_network(pm.PlainNetwork(CENTRES), plans, plans.get_configuration("3d_fullres"),
                              pm.dataset_json(NAMES), names=NAMES, activation="softmax", device=torch.device("cpu"),
                              inference="guided")


def test_guided_presence_is_held_against_the_guided_modes_own_threshold() -> None:
    """Guided confidences come from centred windows, so the guided mode has its own threshold; full ignores it."""
    weak = np.array([20.0, 60.0, 60.0])
    model = MixtureModel([[(weak, 0.3)]])  # confidence about 0.3 x 0.87 (the +-2 sigma box) in either mode
    prior = exact_prior(weak[None], IMAGE)
    outcomes = {}
    for inference in ("full", "guided"):
        for guided_threshold in (None, 0.5):
            predictor = make_predictor(model, ("weak",), inference=inference, prior=prior, absent_below=0.2)
            predictor.absent_below_guided = guided_threshold
            result = predict(predictor)
            assert result.confidence[0] == pytest.approx(0.26, abs=0.03)
            outcomes[inference, guided_threshold] = bool(result.present[0])
    assert outcomes == {("full", None): True, ("full", 0.5): True,
                        ("guided", None): True,  # a model without a guided threshold: the full mode's
                        ("guided", 0.5): False}


def test_model_folders_keep_both_thresholds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from nnlandmark.inference.landmark_predictor import load_model, set_absence_threshold
    from nnlandmark.inference.model_card import build_card, render_card
    from tests.inference.tiny_model import make_model_folder
    from tests.training.conftest import LANDMARKS

    folder = make_model_folder(tmp_path / "model", folds=(0,), activation="log_probability")
    first, second = LANDMARKS
    set_absence_threshold(folder, 0.2, guided=0.4, landmarks={second: 0.3}, guided_landmarks={first: 0.5})
    loaded = {mode: load_model(folder, folds=[0], device=torch.device("cpu"), inference=mode)
              for mode in ("full", "guided")}
    assert loaded["full"].presence_threshold.tolist() == [0.2, 0.3]  # the second landmark's own threshold
    assert loaded["guided"].presence_threshold.tolist() == [0.5, 0.4]  # the first one's own in the guided mode
    card = render_card(build_card(folder, folds=[0]))
    assert f"landmarks' own absence thresholds (full mode): {second} 0.3" in card
    assert f"landmarks' own absence thresholds (guided mode): {first} 0.5" in card
    assert "no absence threshold of the guided mode" not in caplog.text
    set_absence_threshold(folder, 0.2, guided=0.0)  # guided validation could not tell absent from present
    with caplog.at_level(logging.WARNING):
        load_model(folder, folds=[0], device=torch.device("cpu"), inference="guided")
    assert "did not separate absent from present landmarks" in caplog.text
    caplog.clear()
    load_model(folder, folds=[0], device=torch.device("cpu"), inference="full")
    assert "guided" not in caplog.text
    set_absence_threshold(folder, 0.2)  # folds validated before the guided mode was
    with caplog.at_level(logging.WARNING):
        old = load_model(folder, folds=[0], device=torch.device("cpu"), inference="guided")
    assert old.presence_threshold == 0.2
    assert loaded["full"].absent_below_landmarks and not old.absent_below_landmarks
    assert "no absence threshold of the guided mode" in caplog.text and "--inference full" in caplog.text
