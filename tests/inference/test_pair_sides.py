"""Mirror pairs after decoding: both channels on one twin, or swapped, end up each on its own side."""

from __future__ import annotations

import numpy as np
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.pair_sides import assign_pair_sides

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
