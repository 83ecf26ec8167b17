"""Decoding with the landmark prior: a top mode far from where the landmark usually lies is weighed against
the channel's other modes; a top mode where it usually lies is never moved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.landmark_predictor import predictor_for_network
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.inference.prior_modes import GATE_SDS, decode_with_prior, prior_gated_peak
from tests.inference import perfect_model as pm

SHAPE = (20, 24, 30)
SIGMA = 1.5
RADIUS = (3, 3, 3)


def log_gaussians(peaks: list[tuple[tuple[float, float, float], float]]) -> torch.Tensor:
    """An ``ssce_null`` channel: log of Gaussians (sigma 1.5 voxels) holding the given probability masses."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)
    total = np.full(SHAPE, 1e-30)
    for centre, mass in peaks:
        d2 = (((grid - np.asarray(centre)) / SIGMA) ** 2).sum(-1)
        total += mass / ((2 * np.pi) ** 1.5 * SIGMA**3) * np.exp(-0.5 * d2)
    return torch.from_numpy(np.log(total)).float().clamp(min=-100)


def prior_at(centres: list[tuple[float, float, float] | None], sd_vox: float) -> LandmarkPrior:
    """A prior whose means are ``centres`` (voxels of SHAPE; None: never seen) with ``sd_vox`` on every axis."""
    shape = np.asarray(SHAPE, dtype=np.float64)
    mean = np.asarray([[np.nan] * 3 if c is None else (np.asarray(c) + 0.5) / shape for c in centres])
    sd = np.where(np.isfinite(mean), sd_vox / shape, np.nan)
    return LandmarkPrior(mean, sd, np.asarray([0 if c is None else 10 for c in centres]))


def logits_of(*channels: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros(SHAPE), *channels]).half()


TRUE = (10.0, 12.0, 8.0)       # where the landmark usually lies (the prior mean)
LOOKALIKE = (10.0, 12.0, 24.0)  # another structure, 16 voxels away: > 3 SD of a 2-voxel prior


def test_a_top_mode_far_from_the_prior_gives_way_to_a_mode_where_the_landmark_usually_lies() -> None:
    # the channel is surer of the look-alike than of the true structure, as the seed-1 fold 2 swap was
    logits = logits_of(log_gaussians([(LOOKALIKE, 0.6), (TRUE, 0.3)]))
    plain, _ = decode_heatmaps(logits, activation="log_probability", radius=RADIUS)
    positions, confidences, notes = decode_with_prior(logits, activation="log_probability", radius=RADIUS,
                                                      prior=prior_at([TRUE], sd_vox=2.0))
    np.testing.assert_allclose(plain[0], LOOKALIKE, atol=0.05)
    np.testing.assert_allclose(positions[0], TRUE, atol=0.05)
    assert confidences[0] == pytest.approx(0.3, abs=0.05)  # read at the chosen mode, from the channel
    assert len(notes) == 1 and "landmark 0" in notes[0]


def test_a_top_mode_inside_the_gate_is_kept_even_if_a_lower_mode_lies_nearer_the_prior_mean() -> None:
    near = (10.0, 12.0, 8.0 + 2.0 * GATE_SDS - 1.0)  # within 3 SD (of 2 voxels) of the prior mean
    logits = logits_of(log_gaussians([(near, 0.5), (TRUE, 0.4)]))
    plain = decode_heatmaps(logits, activation="log_probability", radius=RADIUS)
    positions, confidences, notes = decode_with_prior(logits, activation="log_probability", radius=RADIUS,
                                                      prior=prior_at([TRUE], sd_vox=2.0))
    np.testing.assert_array_equal(positions, plain[0])
    np.testing.assert_array_equal(confidences, plain[1])
    assert notes == []


def test_a_much_stronger_top_mode_outside_the_gate_is_kept() -> None:
    # 4 SD out (prior penalty 8 nats) but the only other mode is a trace (1e-6 of the mass, ~13 nats lower)
    far = (10.0, 12.0, 16.0)
    logits = logits_of(log_gaussians([(far, 0.9), (TRUE, 1e-6)]))
    voxel, moved = prior_gated_peak(logits[1], activation="log_probability",
                                    centre=np.asarray(TRUE), spread=np.full(3, 2.0))
    assert voxel == (10, 12, 16) and not moved


def test_a_confident_peak_of_an_unusual_case_is_not_traded_for_a_look_alike_nearer_the_mean() -> None:
    # the true structure 3.5 SD out (this case's anatomy is unusual), a look-alike 2.5 SD out on the other
    # side with a seventh of the mass: a Gaussian prior (penalties 6.1 and 3.1) would take the look-alike; the
    # heavy-tailed prior (4.9 and 3.4) keeps the peak, as the real-size seed 1's fold 1 needed
    unusual, lookalike = (10.0, 12.0, 15.0), (10.0, 12.0, 3.0)
    channel = log_gaussians([(unusual, 0.59), (lookalike, 0.08)])
    voxel, moved = prior_gated_peak(channel, activation="log_probability", centre=np.asarray(TRUE),
                                    spread=np.full(3, 2.0))
    assert voxel == (10, 12, 15) and not moved


def test_without_a_prior_or_for_a_never_seen_landmark_the_top_mode_is_decoded() -> None:
    logits = logits_of(log_gaussians([(LOOKALIKE, 0.6), (TRUE, 0.3)]), log_gaussians([(LOOKALIKE, 0.6), (TRUE, 0.3)]))
    plain = decode_heatmaps(logits, activation="log_probability", radius=RADIUS)
    for prior in (None, prior_at([None, None], sd_vox=2.0)):
        positions, confidences, notes = decode_with_prior(logits, activation="log_probability", radius=RADIUS,
                                                          prior=prior)
        np.testing.assert_array_equal(positions, plain[0])
        np.testing.assert_array_equal(confidences, plain[1])
        assert notes == []


def test_a_prior_for_another_number_of_landmarks_is_refused() -> None:
    with pytest.raises(ValueError, match="prior has 2 landmarks, the output 1 channels"):
        decode_with_prior(logits_of(log_gaussians([(TRUE, 0.5)])), activation="log_probability", radius=RADIUS,
                          prior=prior_at([TRUE, TRUE], sd_vox=2.0))


def test_the_predictors_full_mode_decodes_with_the_models_prior() -> None:
    plans = pm.plans((16, 16, 16))
    predictor = predictor_for_network(pm.null_network(np.asarray([TRUE])), plans, plans.get_configuration("3d_fullres"),
                                      pm.dataset_json(("landmark",)), names=("landmark",),
                                      activation="log_probability", device=torch.device("cpu"),
                                      sigma_vox=(SIGMA,) * 3, prior=prior_at([TRUE], sd_vox=2.0))
    logits = logits_of(log_gaussians([(LOOKALIKE, 0.6), (TRUE, 0.3)]))
    positions, _ = predictor._decode(logits, world=lambda p: np.asarray(p)[:, ::-1])
    np.testing.assert_allclose(positions[0], TRUE, atol=0.05)
    predictor.prior = None
    positions, _ = predictor._decode(logits, world=lambda p: np.asarray(p)[:, ::-1])
    np.testing.assert_allclose(positions[0], LOOKALIKE, atol=0.05)


def test_the_predictor_gives_each_mirror_pair_half_the_distance_of_its_twins_prior_places() -> None:
    plans = pm.plans((16, 16, 16))
    names = ("cone_L", "cone_R")
    predictor = predictor_for_network(pm.null_network(np.asarray([TRUE, LOOKALIKE])), plans,
                                      plans.get_configuration("3d_fullres"), pm.dataset_json(names), names=names,
                                      activation="log_probability", device=torch.device("cpu"),
                                      sigma_vox=(SIGMA,) * 3, mirror_pairs=[names],
                                      prior=prior_at([LOOKALIKE, TRUE], sd_vox=2.0))
    two_mm_voxels = lambda p: np.asarray(p)[:, ::-1] * 2.0  # noqa: E731
    assert predictor.half_separations(SHAPE, two_mm_voxels) == pytest.approx([16.0])  # 16 voxels of 2 mm apart
    predictor.prior = prior_at([LOOKALIKE, None], sd_vox=2.0)
    assert predictor.half_separations(SHAPE, two_mm_voxels) == [0.0]
    predictor.prior = None
    assert predictor.half_separations(SHAPE, two_mm_voxels) is None
