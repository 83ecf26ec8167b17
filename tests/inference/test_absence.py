"""Absence threshold chosen on validation confidences."""

from __future__ import annotations

import pytest

from nnlandmark.inference.absence import (
    AbsenceThresholds,
    choose_absence_threshold,
    has_guided_validation,
    is_gross_failure,
    threshold_from_validation,
    thresholds_from_validation,
    unseen_absence_threshold,
)


def test_no_absent_reference_means_never_absent() -> None:
    assert choose_absence_threshold([(True, 0.3), (True, 0.01)]) == 0.0


def test_no_absent_reference_gives_a_probability_model_the_null_outcomes_threshold_never_zero() -> None:
    """A log_probability model calls a landmark absent where less than half its probability is at the peak."""
    unseen = unseen_absence_threshold("log_probability")
    assert unseen == 0.5 and unseen_absence_threshold("sigmoid") == 0.0
    assert unseen_absence_threshold("log_probability", 0.0) == 0.0  # predict.unseen_absent_below
    assert choose_absence_threshold([(True, 0.9), (True, 0.8)], unseen=unseen) == 0.5
    summary = {"confidences": [{"landmark": "a", "reference_present": True, "confidence": 0.9}]}
    assert thresholds_from_validation([summary], unseen=unseen).overall == 0.5
    # where validation saw absent landmarks, they decide, not the default
    assert choose_absence_threshold([(True, 0.9), (False, 0.01)], unseen=unseen) == pytest.approx(0.455)


def test_threshold_separates_absent_from_present() -> None:
    pairs = [(True, 0.5), (True, 0.42), (True, 0.3), (False, 0.05), (False, 0.12)]
    assert choose_absence_threshold(pairs) == pytest.approx((0.12 + 0.3) / 2)


def test_overlap_keeps_the_best_split_and_the_lowest_of_ties() -> None:
    # one absent landmark is more confident than one present one: best is 4 of 5 correct
    pairs = [(True, 0.5), (True, 0.1), (False, 0.05), (False, 0.2), (True, 0.6)]
    threshold = choose_absence_threshold(pairs)
    assert threshold == pytest.approx((0.05 + 0.1) / 2)


def _record(present: bool, confidence: float, error_mm: float | None = None) -> dict:
    return {"case": "c", "landmark": "l", "reference_present": present, "confidence": confidence,
            "error_mm": error_mm if present else None}


def test_gross_failures_are_left_out_of_the_threshold_choice() -> None:
    # a fold that never learned one landmark places it far off with little confidence (0.001-0.003)
    unlearned = [_record(True, c, 35.0) for c in (0.001, 0.002, 0.003)]
    good = [_record(True, c, 1.0) for c in (0.3, 0.5, 0.7)]
    absent = [_record(False, c) for c in (0.004, 0.01)]
    summary = {"gross_error_mm": 8.0, "confidences": unlearned + good + absent}
    with_them = choose_absence_threshold((r["reference_present"], r["confidence"]) for r in summary["confidences"])
    assert with_them == 0.0  # they drag it to zero: both absent landmarks would be reported present
    assert threshold_from_validation([summary]) == pytest.approx((0.01 + 0.3) / 2)


def test_records_without_errors_all_count() -> None:
    old = {"confidences": [{"reference_present": True, "confidence": 0.002},
                           {"reference_present": True, "confidence": 0.5},
                           {"reference_present": False, "confidence": 0.01}]}
    pairs = [(r["reference_present"], r["confidence"]) for r in old["confidences"]]
    assert threshold_from_validation([old]) == choose_absence_threshold(pairs)
    assert not is_gross_failure(old["confidences"][0], 8.0)


def _both(present: bool, full: tuple[float, float | None], guided: tuple[float, float | None]) -> dict:
    """A record with the full mode's and the guided mode's (confidence, error_mm)."""
    return {"case": "c", "landmark": "l", "reference_present": present, "confidence": full[0],
            "error_mm": full[1], "guided_confidence": guided[0], "guided_error_mm": guided[1]}


def test_the_guided_threshold_is_chosen_on_guided_confidences_and_errors() -> None:
    # a centred window is surer of everything: absent landmarks reach 0.02-0.05 there, 0.004-0.006 stitched
    present = [_both(True, (c, 1.0), (c + 0.2, 1.0)) for c in (0.3, 0.5, 0.7)]
    absent = [_both(False, (c, None), (10 * c, None)) for c in (0.002, 0.005)]
    # placed well by the full mode, on a wrong structure by the guided search (its error decides, not the full one)
    misplaced = _both(True, (0.01, 1.0), (0.001, 40.0))
    summary = {"gross_error_mm": 8.0, "confidences": present + absent + [misplaced]}
    assert has_guided_validation([summary])
    assert threshold_from_validation([summary]) == pytest.approx((0.005 + 0.01) / 2)
    assert threshold_from_validation([summary], inference="guided") == pytest.approx((0.05 + 0.5) / 2)
    assert is_gross_failure(misplaced, 8.0, inference="guided") and not is_gross_failure(misplaced, 8.0)


def test_validation_without_guided_records_has_no_guided_threshold() -> None:
    old = {"confidences": [_record(True, 0.5, 1.0), _record(False, 0.01)]}
    assert not has_guided_validation([old]) and not has_guided_validation([])
    assert has_guided_validation([{"confidences": [_both(True, (0.5, 1.0), (0.6, 1.0))]}])


def _named(landmark: str, present: bool, confidence: float) -> dict:
    return {"case": "c", "landmark": landmark, "reference_present": present, "confidence": confidence,
            "error_mm": 1.0 if present else None}


def test_a_landmark_seen_absent_and_present_gets_its_own_threshold_pooled_with_its_twin() -> None:
    # the navel is hard: present at 0.009-0.02. One overall threshold falls between the absent spheres'
    # 0.002-0.004 and the navel, below what an absent sphere's channel can keep (0.03 here, present)
    records = ([_named("navel", True, c) for c in (0.009, 0.012, 0.02)]
               + [_named("sphere_L", True, c) for c in (0.4, 0.55)] + [_named("sphere_R", True, c) for c in (0.38, 0.6)]
               + [_named("sphere_L", False, c) for c in (0.002, 0.03)] + [_named("sphere_R", False, 0.004)])
    summary = {"gross_error_mm": 8.0, "confidences": records}
    thresholds = thresholds_from_validation([summary], twins=[("sphere_L", "sphere_R")])
    assert thresholds.overall == pytest.approx(threshold_from_validation([summary]))
    assert thresholds.overall < 0.009
    assert thresholds.landmarks == {"sphere_L": pytest.approx((0.03 + 0.38) / 2),
                                    "sphere_R": pytest.approx((0.03 + 0.38) / 2)}
    names = ("navel", "sphere_R", "sphere_L")
    assert thresholds.for_names(names).tolist() == pytest.approx([thresholds.overall, 0.205, 0.205])
    # not paired, each twin is judged on its own records
    alone = thresholds_from_validation([summary])
    assert alone.landmarks["sphere_R"] == pytest.approx((0.004 + 0.38) / 2)
    assert alone.landmarks["sphere_L"] == pytest.approx((0.03 + 0.4) / 2)


def test_landmarks_never_seen_absent_keep_the_overall_threshold() -> None:
    records = [_named("a", True, 0.5), _named("a", True, 0.4), _named("b", True, 0.3), _named("b", False, 0.01)]
    thresholds = thresholds_from_validation([{"gross_error_mm": 8.0, "confidences": records}])
    assert set(thresholds.landmarks) == {"b"}
    assert AbsenceThresholds(0.1, {"b": 0.2}).for_names(["a", "b"]).tolist() == [0.1, 0.2]
