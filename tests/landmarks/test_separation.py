"""Closest approach of landmark pairs over the training references, and which pairs may share a place."""

from __future__ import annotations

import numpy as np

from nnlandmark.landmarks import LandmarkSet
from nnlandmark.landmarks.separation import closest_approach_mm, may_share_place

NAMES = ("apex", "pole", "tip_upper", "tip_lower")


def _case(points: list[list[float]], present: list[bool]) -> LandmarkSet:
    return LandmarkSet(NAMES, np.asarray(points, dtype=float), np.asarray(present))


def test_closest_approach_is_the_smallest_distance_over_cases_where_both_are_present() -> None:
    cases = [
        _case([[0, 0, 0], [30, 0, 0], [0, 10, 0], [0, 12, 0]], [True, True, True, True]),
        _case([[0, 0, 0], [20, 0, 0], [0, 10, 0], [0, 11.5, 0]], [True, True, True, True]),
        # the pole is absent here: its (NaN) point must not count
        _case([[0, 0, 0], [0, 0, 0], [0, 10, 0], [0, 13, 0]], [True, False, True, True]),
    ]
    closest = closest_approach_mm(cases, NAMES)
    assert closest[0, 1] == closest[1, 0] == 20.0
    assert closest[2, 3] == 1.5
    assert np.isnan(closest[0, 0])


def test_pairs_never_both_present_or_close_may_share_a_place() -> None:
    cases = [_case([[0, 0, 0], [30, 0, 0], [0, 10, 0], [0, 12, 0]], [True, True, True, False])]
    closest = closest_approach_mm(cases, NAMES)
    shared = may_share_place(NAMES, closest, apart_beyond_mm=8.0)
    # tip_lower never seen with anything; apex/pole 30 mm, apex/tip_upper 10 mm, pole/tip_upper ~31.6 mm apart
    assert shared == [("apex", "tip_lower"), ("pole", "tip_lower"), ("tip_upper", "tip_lower")]
    assert ("apex", "tip_upper") in may_share_place(NAMES, closest, apart_beyond_mm=10.0)
