"""Mirror pairs after decoding: both channels on one twin, or swapped, end up each on its own side."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.pair_sides import assign_pair_sides, fit_midline

SHAPE = (20, 24, 40)
SIGMA = (1.5, 1.5, 1.5)
LEFT_TWIN = np.array([10.0, 12.0, 30.0])   # array axis 2 is LPS x here: larger index = patient left
RIGHT_TWIN = np.array([10.0, 12.0, 9.0])


def _log_gaussian(centre: np.ndarray, mass: float) -> torch.Tensor:
    """log of a Gaussian holding probability ``mass``, as an ``ssce_null`` channel stores it."""
    height = mass / ((2 * np.pi) ** 1.5 * np.prod(SIGMA))
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)
    d2 = (((grid - centre) / np.asarray(SIGMA)) ** 2).sum(-1)
    return torch.from_numpy(np.log(height * np.exp(-0.5 * d2) + 1e-30)).float().clamp(min=-100)


def _channel(peaks: list[tuple[np.ndarray, float]]) -> torch.Tensor:
    return torch.logsumexp(torch.stack([_log_gaussian(c, h) for c, h in peaks]), dim=0)


def _assign(left: torch.Tensor, right: torch.Tensor) -> tuple[np.ndarray, np.ndarray, list[str]]:
    logits = torch.stack([torch.zeros(SHAPE), left, right]).half()
    positions, confidences = decode_heatmaps(logits, activation="log_probability", radius=(3, 3, 3))
    return assign_pair_sides(logits, positions, confidences, pairs=[(0, 1)], activation="log_probability",
                             radius=(3, 3, 3), sigma_vox=SIGMA, lps_x=lambda p: np.asarray(p)[:, 2])


def test_both_channels_on_the_right_twin_sends_the_left_landmark_to_the_other_twin() -> None:
    # the left channel is surer of the right twin than of its own, as a patch without the midline makes it
    left = _channel([(RIGHT_TWIN, 0.05), (LEFT_TWIN, 0.02), (np.array([3.0, 3.0, 20.0]), 0.03)])
    right = _channel([(RIGHT_TWIN, 0.08), (LEFT_TWIN, 0.01)])
    positions, confidences, changes = _assign(left, right)
    np.testing.assert_allclose(positions[0], LEFT_TWIN, atol=0.05)
    np.testing.assert_allclose(positions[1], RIGHT_TWIN, atol=0.05)
    # the stray mode of the left channel alone (0.03) is not taken for the twin: both channels agree on it
    assert len(changes) == 1 and "second mode" in changes[0]
    assert confidences[0] < confidences[1]


def test_swapped_twins_are_swapped_back() -> None:
    positions, _, changes = _assign(_channel([(RIGHT_TWIN, 0.5)]), _channel([(LEFT_TWIN, 0.5)]))
    np.testing.assert_allclose(positions[0], LEFT_TWIN, atol=0.05)
    np.testing.assert_allclose(positions[1], RIGHT_TWIN, atol=0.05)
    assert changes and "swapped" in changes[0]


def test_a_pair_on_its_sides_is_left_as_decoded() -> None:
    left, right = _channel([(LEFT_TWIN + 0.3, 0.5)]), _channel([(RIGHT_TWIN - 0.2, 0.5)])
    logits = torch.stack([torch.zeros(SHAPE), left, right]).half()
    before = decode_heatmaps(logits, activation="log_probability", radius=(3, 3, 3))
    positions, confidences, changes = _assign(left, right)
    assert changes == []
    np.testing.assert_array_equal(positions, before[0])
    np.testing.assert_array_equal(confidences, before[1])


# --- the midline: other pairs show where the patient's mid-sagittal plane is (array axis 2 = LPS x here)
MIDLINE_X = 19.5
OTHER_PAIRS = [(np.array([4.0, 5.0, 27.0]), np.array([4.0, 5.0, 12.0])),
               (np.array([16.0, 18.0, 25.0]), np.array([16.0, 18.0, 14.0]))]


def _world(p: np.ndarray) -> np.ndarray:
    """Array (z, y, x) to LPS mm with 1 mm voxels: LPS x is the array's x."""
    p = np.asarray(p, dtype=np.float64).reshape(-1, 3)
    return p[:, ::-1].copy()


def _assign_with_midline(left: torch.Tensor, right: torch.Tensor, *, world: bool = True, half_mm: float = 10.5
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pair (0, 1) is the one under test; pairs (2, 3) and (4, 5) sit on their sides and show the midline.
    ``half_mm``: half the expected distance of pair (0, 1)'s twins (their prior places): 10.5 mm as drawn."""
    others = [_channel([(place, 0.9)]) for pair in OTHER_PAIRS for place in pair]
    logits = torch.stack([torch.zeros(SHAPE), left, right, *others]).half()
    positions, confidences = decode_heatmaps(logits, activation="log_probability", radius=(3, 3, 3))
    pairs = [(0, 1), (2, 3), (4, 5)]
    if not world:
        return assign_pair_sides(logits, positions, confidences, pairs=pairs, activation="log_probability",
                                 radius=(3, 3, 3), sigma_vox=SIGMA, lps_x=lambda p: np.asarray(p)[:, 2])
    return assign_pair_sides(logits, positions, confidences, pairs=pairs, activation="log_probability",
                             radius=(3, 3, 3), sigma_vox=SIGMA, world=_world, side_margin_mm=3.0,
                             half_separation_mm=[half_mm, 7.5, 5.5])


def test_fit_midline_finds_an_oblique_plane_and_counts_a_swapped_pair_the_same() -> None:
    normal = np.array([np.cos(0.3), np.sin(0.3), 0.0])  # patient left, turned 17 degrees about the LPS z axis
    offset = 12.0
    points = []
    for along, height in ((20.0, 0.0), (35.0, 10.0), (28.0, -15.0)):
        centre = offset * normal + np.array([-np.sin(0.3), np.cos(0.3), 0.0]) * height + [0.0, 0.0, height]
        points += [centre + along * normal, centre - along * normal]
    points_mm = np.asarray(points)
    pairs = [(0, 1), (3, 2), (4, 5)]  # the second pair's channels are swapped: (right twin, left twin)
    midline = fit_midline(points_mm, pairs)
    assert midline is not None
    np.testing.assert_allclose(midline.normal, normal, atol=1e-9)
    assert midline.offset == pytest.approx(offset)
    np.testing.assert_allclose(midline.side(points_mm), [20, -20, 35, -35, 28, -28], atol=1e-9)
    assert fit_midline(points_mm, []) is None


def test_an_absent_twin_does_not_push_the_present_one_onto_a_stray_mode_further_out() -> None:
    # the right twin is absent: both channels peak on the left twin, and the pair's strongest other mode is a
    # stray place further left (as in seed 1's case 003); on the right side there is only a faint mode
    stray = np.array([10.0, 12.0, 37.0])
    faint_right = np.array([8.0, 14.0, 6.0])
    left = _channel([(LEFT_TWIN, 0.7), (stray, 0.1), (faint_right, 0.002)])
    right = _channel([(LEFT_TWIN, 0.5), (stray, 0.1), (faint_right, 0.002)])

    x_only, x_confidences, _ = _assign_with_midline(left, right, world=False)
    np.testing.assert_allclose(x_only[0], stray, atol=0.05)      # LPS x alone: the present twin is moved away
    np.testing.assert_allclose(x_only[1], LEFT_TWIN, atol=0.05)  # and the absent one takes its place
    assert x_confidences[1] > 0.3

    positions, confidences, changes = _assign_with_midline(left, right)
    np.testing.assert_allclose(positions[0], LEFT_TWIN, atol=0.05)
    np.testing.assert_allclose(positions[1], faint_right, atol=0.05)
    assert confidences[1] < 0.01 < 0.3 < confidences[0]  # the absent twin comes out unconfident
    assert len(changes) == 1 and "midline" in changes[0]


def test_a_pair_expected_near_the_midline_is_left_to_the_lps_x_comparison() -> None:
    # twins expected 2.5 mm each side of the plane (< 2 side margins): a few mm of error in the fitted plane
    # would put both on one side, so the midline does not decide; the absent-twin case goes as LPS x says
    stray = np.array([10.0, 12.0, 37.0])
    left = _channel([(LEFT_TWIN, 0.7), (stray, 0.1)])
    right = _channel([(LEFT_TWIN, 0.5), (stray, 0.1)])
    expected, _, _ = _assign_with_midline(left, right, world=False)
    positions, _, changes = _assign_with_midline(left, right, half_mm=2.5)
    np.testing.assert_array_equal(positions, expected)
    assert len(changes) == 1 and "second mode" in changes[0]


def test_two_places_on_one_side_send_the_less_confident_channel_to_the_other_side() -> None:
    stray = np.array([10.0, 12.0, 37.0])
    right_twin = RIGHT_TWIN
    left = _channel([(LEFT_TWIN, 0.8), (right_twin, 0.02)])
    right = _channel([(stray, 0.3), (LEFT_TWIN, 0.1), (right_twin, 0.2)])
    positions, _, changes = _assign_with_midline(left, right)
    np.testing.assert_allclose(positions[0], LEFT_TWIN, atol=0.05)
    np.testing.assert_allclose(positions[1], right_twin, atol=0.05)
    assert len(changes) == 1


def test_with_the_midline_a_pair_on_its_sides_and_a_swapped_pair_behave_as_before() -> None:
    positions, _, changes = _assign_with_midline(_channel([(LEFT_TWIN, 0.5)]), _channel([(RIGHT_TWIN, 0.5)]))
    assert changes == []
    positions, _, changes = _assign_with_midline(_channel([(RIGHT_TWIN, 0.5)]), _channel([(LEFT_TWIN, 0.5)]))
    np.testing.assert_allclose(positions[0], LEFT_TWIN, atol=0.05)
    np.testing.assert_allclose(positions[1], RIGHT_TWIN, atol=0.05)
    assert changes == ["landmarks 0 and 1: swapped"]


def test_close_twins_each_on_its_own_channel_are_not_taken_for_one_place() -> None:
    """Twins 3 voxels apart with sigma 2, as the mammillary bodies: with a faint mode both channels share far
    away, the pair rule would send one twin there; twins the references put that close are left alone."""
    sigma = (2.0, 2.0, 2.0)
    left_twin, right_twin, stray = np.array([10.0, 12.0, 21.5]), np.array([10.0, 12.0, 18.5]), np.array([4.0, 5.0, 36.0])
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)

    def channel(peaks: list[tuple[np.ndarray, float]]) -> torch.Tensor:
        norm = (2 * np.pi) ** 1.5 * np.prod(sigma)
        density = sum(m / norm * np.exp(-0.5 * (((grid - c) / np.asarray(sigma)) ** 2).sum(-1)) for c, m in peaks)
        return torch.from_numpy(np.log(density + 1e-30)).float().clamp(min=-100)

    logits = torch.stack([torch.zeros(SHAPE), channel([(left_twin, 0.9), (stray, 1e-3)]),
                          channel([(right_twin, 0.85), (stray, 1e-3)])]).half()
    positions, confidences = decode_heatmaps(logits, activation="log_probability", radius=(4, 4, 4))

    def assign(close: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return assign_pair_sides(logits, positions, confidences, pairs=[(0, 1)], activation="log_probability",
                                 radius=(4, 4, 4), sigma_vox=sigma, lps_x=lambda p: np.asarray(p)[:, 2],
                                 close_twins=close)

    split, _, changes = assign([])
    # what the rule does to twins it takes for one place: one of them goes to the stray mode
    assert changes and max(np.linalg.norm(split[0] - left_twin), np.linalg.norm(split[1] - right_twin)) > 10
    kept, kept_confidences, changes = assign([(0, 1)])
    np.testing.assert_allclose(kept[0], left_twin, atol=0.05)
    np.testing.assert_allclose(kept[1], right_twin, atol=0.05)
    assert not changes and kept_confidences.min() > 0.5
