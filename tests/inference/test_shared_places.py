"""Different landmarks at different places: a channel that peaks on another landmark's structure is moved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.shared_places import apart_pairs, close_twins, part_shared_places
from tests.inference.test_pair_sides import SHAPE, SIGMA, _channel

CONE = np.array([10.0, 12.0, 20.0])
POLE = np.array([4.0, 5.0, 31.0])
ELSEWHERE = np.array([15.0, 20.0, 6.0])


def _part(channels: list[torch.Tensor], apart: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    logits = torch.stack([torch.zeros(SHAPE), *channels]).half()
    positions, confidences = decode_heatmaps(logits, activation="log_probability", radius=(3, 3, 3))
    return part_shared_places(logits, positions, confidences, apart=apart, activation="log_probability",
                              radius=(3, 3, 3), sigma_vox=SIGMA)


def test_a_channel_on_another_landmarks_structure_takes_its_own_next_mode() -> None:
    # the pole channel is a little surer of the cone apex than of its own structure; the cone channel is sure
    cone = _channel([(CONE, 0.9)])
    pole = _channel([(CONE + 0.4, 0.5), (POLE, 0.4)])
    positions, confidences, changes = _part([cone, pole], [(0, 1)])
    np.testing.assert_allclose(positions[0], CONE, atol=0.05)
    np.testing.assert_allclose(positions[1], POLE, atol=0.05)
    assert confidences[1] == pytest.approx(0.4, abs=0.05)
    assert len(changes) == 1 and changes[0].startswith("landmark 1 peaked where landmark 0 is")


def test_the_more_confident_channel_keeps_the_place_whichever_comes_first() -> None:
    pole = _channel([(CONE, 0.5), (POLE, 0.4)])
    cone = _channel([(CONE, 0.9)])
    positions, _, _ = _part([pole, cone], [(0, 1)])
    np.testing.assert_allclose(positions[1], CONE, atol=0.05)
    np.testing.assert_allclose(positions[0], POLE, atol=0.05)


def test_pairs_that_may_share_a_place_and_pairs_apart_are_left_as_decoded() -> None:
    cone, pole = _channel([(CONE, 0.9)]), _channel([(CONE, 0.5), (POLE, 0.4)])
    positions, _, changes = _part([cone, pole], [])  # the references put them close: not in ``apart``
    np.testing.assert_allclose(positions[1], CONE, atol=0.05)
    assert changes == []
    apart = _channel([(ELSEWHERE, 0.8)])
    before = _part([cone, apart], [])
    after = _part([cone, apart], [(0, 1)])
    np.testing.assert_array_equal(before[0], after[0])
    assert after[2] == []


def test_a_chain_of_clashes_ends_with_every_landmark_on_its_own_place() -> None:
    # landmark 2 first sits on landmark 1's place, then its next mode is landmark 0's place, then its own
    zero = _channel([(CONE, 0.9)])
    one = _channel([(POLE, 0.9)])
    two = _channel([(POLE, 0.6), (CONE, 0.5), (ELSEWHERE, 0.3)])
    positions, _, changes = _part([zero, one, two], [(0, 1), (0, 2), (1, 2)])
    np.testing.assert_allclose(positions, [CONE, POLE, ELSEWHERE], atol=0.05)
    assert len(changes) == 2


def test_a_channel_with_no_other_mode_comes_out_with_no_confidence() -> None:
    # all of the loser's mass is on the other landmark's place: wherever it goes, it is not confident there
    cone, copy = _channel([(CONE, 0.9)]), _channel([(CONE + 0.3, 0.6)])
    positions, confidences, changes = _part([cone, copy], [(0, 1)])
    np.testing.assert_allclose(positions[0], CONE, atol=0.05)
    assert np.linalg.norm(positions[1] - CONE) > 2 * SIGMA[0]
    assert confidences[1] < 1e-3 and len(changes) == 1


def test_apart_pairs_leave_out_mirror_pairs_and_recorded_close_pairs() -> None:
    names = ["a_L", "a_R", "tip_upper", "tip_lower", "apex"]
    apart = apart_pairs(names, may_share=[("tip_upper", "tip_lower")], mirror_pairs=[(0, 1)])
    assert (0, 1) not in apart and (2, 3) not in apart
    assert set(apart) == {(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 4), (3, 4)}
    assert apart_pairs(names, may_share=None) == ()  # a model without the record parts nothing
    with pytest.raises(ValueError, match="apex2"):
        apart_pairs(names, may_share=[("apex", "apex2")])


def test_a_moved_landmark_never_takes_its_mirror_twins_place() -> None:
    # an absent right sphere: its channel's modes are the left sphere (its twin's, settled by pair_sides) and
    # the spine tip; pair_sides sent it to the spine tip, which the spine channel holds more surely
    left_sphere, spine, weak = CONE, POLE, ELSEWHERE
    left = _channel([(left_sphere, 0.9)])
    right = _channel([(spine, 0.02), (left_sphere, 0.3), (weak, 0.003)])
    spine_channel = _channel([(spine, 0.9)])
    logits = torch.stack([torch.zeros(SHAPE), left, right, spine_channel]).half()
    positions = np.stack([left_sphere, spine, spine])
    confidences = np.array([0.9, 0.02, 0.9])
    apart = [(0, 2), (1, 2)]  # the pair (0, 1) is not in ``apart``: pair_sides settled it
    moved, conf, _ = part_shared_places(logits, positions, confidences, apart=apart, activation="log_probability",
                                        radius=(3, 3, 3), sigma_vox=SIGMA, mirror_pairs=[(0, 1)])
    np.testing.assert_allclose(moved[1], weak, atol=0.05)
    assert conf[1] < 0.01  # still absent, not made present on its twin
    unbarred, conf, _ = part_shared_places(logits, positions, confidences, apart=apart, activation="log_probability",
                                           radius=(3, 3, 3), sigma_vox=SIGMA)
    np.testing.assert_allclose(unbarred[1], left_sphere, atol=0.05)  # what happened before the twin was barred


def test_close_twins_are_the_mirror_pairs_the_references_put_close() -> None:
    names = ("L MB", "R MB", "L eye", "R eye")
    pairs = [(0, 1), (2, 3)]
    assert close_twins(names, may_share=[("R MB", "L MB"), ("L MB", "L eye")], mirror_pairs=pairs) == ((0, 1),)
    assert close_twins(names, may_share=None, mirror_pairs=pairs) == ()
