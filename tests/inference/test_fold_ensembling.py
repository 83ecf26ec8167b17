"""Fold ensembling and absent landmarks, end to end through our predictor on images larger than the patch.

Folds are averaged the way nnU-Net averages them, as probabilities (each fold's stitched output), and every
landmark is read at one place: the averaged output's peak. Its confidence is the averaged output's mass there,
and the folds vote on presence with their own confidences at that same place: the same kind of number a fold's
whole-case validation records, on which the absence threshold is chosen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nnlandmark.inference.absence import choose_absence_threshold
from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.landmark_predictor import LandmarkPredictor, predictor_for_network
from nnlandmark.inference.whole_case_validation import validate_cases
from nnlandmark.landmarks import LandmarkSet, write_landmarks
from tests.inference import perfect_model as pm

NAMES = ("left", "right", "missing")
IMAGE = (64, 64, 64)
PATCH = (32, 32, 32)  # 27 windows
ABSENT = [-300.0, 30.0, 30.0]  # a landmark the case does not have: every window says "not here"
FOLD_A = np.array([[30.2, 20.6, 40.0], [12.4, 50.3, 20.7], ABSENT])
FOLD_B = np.array([[30.2, 20.6, 44.0], [12.4, 50.3, 20.7], ABSENT])  # fold B puts "left" 4 voxels further in x


def predictor(network: torch.nn.Module, folds: list[dict] | None = None) -> LandmarkPredictor:
    plans = pm.plans(PATCH)
    return predictor_for_network(network, plans, plans.get_configuration("3d_fullres"), pm.dataset_json(NAMES),
                                 names=NAMES, activation="log_probability", device=torch.device("cpu"),
                                 parameters=folds, sigma_vox=pm.SIGMA_VOX)


def predict(landmark_predictor: LandmarkPredictor) -> LandmarkSet:
    return landmark_predictor.predict_preprocessed(pm.coordinate_image(IMAGE), pm.identity_properties(IMAGE))


def zyx(landmarks: LandmarkSet) -> np.ndarray:
    return landmarks.points[:, ::-1]  # identity geometry: world (x, y, z) mm = voxel (x, y, z)


@pytest.fixture(scope="module")
def single_and_ensembled() -> tuple[LandmarkSet, LandmarkSet, LandmarkSet, torch.Tensor]:
    folds = [pm.null_network(c, amplitude=3.0, seed=s).state_dict() for s, c in enumerate((FOLD_A, FOLD_B))]
    alone = [predict(predictor(pm.null_network(c, amplitude=3.0, seed=s))) for s, c in enumerate((FOLD_A, FOLD_B))]
    ensemble = predictor(pm.null_network(FOLD_A), folds)  # the network's own parameters are replaced fold by fold
    outputs = [predictor(pm.null_network(c, amplitude=3.0, seed=s)).predictor.predict_sliding_window_return_logits(
        pm.coordinate_image(IMAGE)).float() for s, c in enumerate((FOLD_A, FOLD_B))]
    averaged = torch.logsumexp(torch.stack(outputs), dim=0) - np.log(2)  # the log of the mean probability
    return alone[0], alone[1], predict(ensemble), averaged


def test_each_fold_alone_decodes_its_own_peaks(single_and_ensembled: tuple) -> None:
    fold_a, fold_b, _, _ = single_and_ensembled
    np.testing.assert_allclose(zyx(fold_a)[:2], FOLD_A[:2], atol=0.05)
    np.testing.assert_allclose(zyx(fold_b)[:2], FOLD_B[:2], atol=0.05)


def test_two_folds_average_to_the_peak_of_their_mean_probability(single_and_ensembled: tuple) -> None:
    _, _, ensemble, averaged = single_and_ensembled
    found = zyx(ensemble)
    # two Gaussians 4 voxels apart (sigma 2.5): their mean is one mode, midway between x = 40 and x = 44
    np.testing.assert_allclose(found[0], [30.2, 20.6, 42.0], atol=0.1)
    np.testing.assert_allclose(found[1], FOLD_A[1], atol=0.05)  # where the folds agree, their common peak
    positions, _ = decode_heatmaps(averaged, activation="log_probability")
    np.testing.assert_allclose(found[:2], positions[:2], atol=0.05)


def test_ensembled_confidence_is_the_averaged_outputs_mass_at_the_reported_place(single_and_ensembled: tuple) -> None:
    fold_a, _, ensemble, averaged = single_and_ensembled
    radius = tuple(max(1, int(np.ceil(2 * s))) for s in pm.SIGMA_VOX)
    _, mass = decode_heatmaps(averaged, activation="log_probability", radius=radius)
    np.testing.assert_allclose(ensemble.confidence[:2], mass[:2], rtol=0.01)
    assert ensemble.confidence[1] == pytest.approx(fold_a.confidence[1], rel=0.01)  # the folds agree there
    assert ensemble.confidence[0] < fold_a.confidence[0]  # they do not quite agree on "left"


def test_two_folds_outvote_a_third_and_the_landmark_is_reported_where_they_put_it() -> None:
    """The folds' mean log-probability (a product of experts) put this landmark at x = 46, where no fold did."""
    apart = np.array([[30.2, 20.6, 58.0], [12.4, 50.3, 20.7], ABSENT])
    folds = [pm.null_network(c, amplitude=3.0, seed=s).state_dict() for s, c in enumerate((FOLD_A, FOLD_A, apart))]
    ensemble = predict(predictor(pm.null_network(FOLD_A), folds))
    np.testing.assert_allclose(zyx(ensemble)[0], FOLD_A[0], atol=0.1)
    assert 0.5 < ensemble.confidence[0] < 0.7  # two thirds of the folds' mass lies there
    assert ensemble.present.tolist() == [True, True, True]  # no threshold set: only the vote's majority counts


def test_an_absent_landmark_is_reported_absent_under_the_validation_threshold(
    single_and_ensembled: tuple, tmp_path: Path
) -> None:
    """Threshold from one fold's whole-case validation, applied to the two-fold ensemble, as predict_test does."""

    class ValidationCase:
        identifiers = ["case_v"]

        def load_case(self, identifier: str) -> tuple[np.ndarray, None, None, dict]:
            return pm.coordinate_image(IMAGE).numpy(), None, None, pm.identity_properties(IMAGE)

    reference = LandmarkSet(NAMES, FOLD_A[:, ::-1], [True, True, False])
    (tmp_path / "reference").mkdir()
    write_landmarks(tmp_path / "reference" / "case_v.json", reference)
    summary = validate_cases(predictor(pm.null_network(FOLD_A, amplitude=3.0)), ValidationCase(),
                             reference_folder=tmp_path / "reference", out_folder=tmp_path / "validation")
    confidences = {c["landmark"]: c["confidence"] for c in summary["confidences"]}
    assert confidences["missing"] < 1e-6 and min(confidences["left"], confidences["right"]) > 0.8
    threshold = choose_absence_threshold((c["reference_present"], c["confidence"]) for c in summary["confidences"])
    assert 1e-6 < threshold < 0.8

    _, _, ensemble, _ = single_and_ensembled
    assert ensemble.confidence[2] < 1e-6
    assert (ensemble.confidence >= threshold).tolist() == [True, True, False]


def test_one_fold_alone_cannot_make_a_landmark_present() -> None:
    from nnlandmark.inference.decode import fold_consensus

    confidences = [np.array([0.6, 0.9, 0.0]), np.array([0.6, 0.001, 0.7]), np.array([0.6, 0.001, 0.7])]
    np.testing.assert_allclose(fold_consensus(confidences), [0.6, (0.9 * 1e-6) ** (1 / 3), 0.0], atol=1e-12)
    assert fold_consensus(confidences)[1] < 0.01  # the arithmetic mean would say 0.30


def test_folds_vote_on_presence_each_against_the_single_fold_threshold() -> None:
    from nnlandmark.inference.decode import fold_votes

    confidences = [np.array([0.6, 0.9, 0.02]), np.array([0.6, 0.003, 0.02]), np.array([0.001, 0.003, 0.001])]
    # 2 of 3 folds reach 0.01 -> present (their geometric mean, 0.07 and 0.01, is not what is compared)
    assert fold_votes(confidences, 0.01).tolist() == [True, False, True]
    assert fold_votes(confidences[:1], 0.01).tolist() == [True, True, True]  # one fold: its own call
    # two folds: one of them is half, not a majority; four folds need three
    assert fold_votes(confidences[1:], 0.01).tolist() == [False, False, False]
    assert fold_votes(confidences[1:] + confidences[1:], 0.01).tolist() == [False, False, False]
    assert fold_votes(confidences[:2] + confidences[:2], 0.01).tolist() == [True, False, True]


def test_folds_vote_against_each_landmarks_own_threshold() -> None:
    from nnlandmark.inference.decode import fold_votes

    confidences = [np.array([0.02, 0.03]), np.array([0.02, 0.03]), np.array([0.001, 0.2])]
    assert fold_votes(confidences, np.array([0.01, 0.1])).tolist() == [True, False]


def test_each_mode_holds_landmarks_with_their_own_threshold_to_it() -> None:
    landmark_predictor = predictor(pm.null_network(FOLD_A))
    landmark_predictor.absent_below, landmark_predictor.absent_below_landmarks = 0.005, {"right": 0.2}
    landmark_predictor.absent_below_guided, landmark_predictor.absent_below_guided_landmarks = 0.01, {"left": 0.3}
    assert landmark_predictor.presence_threshold.tolist() == [0.005, 0.2, 0.005]
    landmark_predictor.inference = "guided"
    assert landmark_predictor.presence_threshold.tolist() == [0.3, 0.01, 0.01]
    landmark_predictor.absent_below_guided = None  # a model validated before the guided mode: the full mode's one
    assert landmark_predictor.presence_threshold == 0.005


@pytest.mark.parametrize("inference", ["full", "guided"])
def test_a_landmark_two_of_three_folds_see_is_present_and_one_of_three_absent(inference: str) -> None:
    seen = np.array([[30.2, 20.6, 40.0], [12.4, 50.3, 20.7], ABSENT])
    folds = [pm.null_network(seen).state_dict(),
             pm.null_network(np.array([seen[0], ABSENT, ABSENT])).state_dict(),
             pm.null_network(np.array([ABSENT, ABSENT, ABSENT])).state_dict()]
    plans = pm.plans(PATCH)
    ensemble = predictor_for_network(pm.null_network(seen), plans, plans.get_configuration("3d_fullres"),
                                     pm.dataset_json(NAMES), names=NAMES, activation="log_probability",
                                     device=torch.device("cpu"), parameters=folds, sigma_vox=pm.SIGMA_VOX,
                                     absent_below=0.1, inference=inference)
    result = predict(ensemble)
    # "left": seen by folds 0 and 1; "right": by fold 0 only; "missing": by none
    assert result.present.tolist() == [True, False, False]
    assert np.linalg.norm(zyx(result)[0] - seen[0]) < 0.5
    if inference == "full":  # the averaged output's mass at the reported place: the mean of the folds' there
        assert 0.5 < result.confidence[0] < 0.7 and 0.25 < result.confidence[1] < 0.35
    else:  # the guided mode's geometric mean, pulled down by fold 2, would have called it absent
        assert result.confidence[0] < 0.1
