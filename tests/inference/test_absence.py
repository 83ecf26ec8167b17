"""Absence threshold chosen on validation confidences."""

from __future__ import annotations

import pytest

from nnlandmark.inference.absence import choose_absence_threshold


def test_no_absent_reference_means_never_absent() -> None:
    assert choose_absence_threshold([(True, 0.3), (True, 0.01)]) == 0.0


def test_threshold_separates_absent_from_present() -> None:
    pairs = [(True, 0.5), (True, 0.42), (True, 0.3), (False, 0.05), (False, 0.12)]
    assert choose_absence_threshold(pairs) == pytest.approx((0.12 + 0.3) / 2)


def test_overlap_keeps_the_best_split_and_the_lowest_of_ties() -> None:
    # one absent landmark is more confident than one present one: best is 4 of 5 correct
    pairs = [(True, 0.5), (True, 0.1), (False, 0.05), (False, 0.2), (True, 0.6)]
    threshold = choose_absence_threshold(pairs)
    assert threshold == pytest.approx((0.05 + 0.1) / 2)
