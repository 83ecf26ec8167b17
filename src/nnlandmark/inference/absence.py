"""Absent landmarks: a confidence threshold chosen on the folds' validation cases."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def choose_absence_threshold(validation: Iterable[tuple[bool, float]]) -> float:
    """Threshold on confidence that best separates present from absent reference landmarks.

    ``validation`` yields (reference_present, confidence) pairs. The threshold maximises the number of
    correct present/absent calls; among equally good ones the lowest is kept, so a landmark is only called
    absent when validation data showed that its confidence drops. Without absent references it is 0.
    """
    pairs = [(bool(p), float(c)) for p, c in validation if np.isfinite(c)]
    if not any(not p for p, _ in pairs):
        return 0.0
    present = np.array([p for p, _ in pairs])
    confidence = np.array([c for _, c in pairs])
    values = np.unique(confidence)
    # candidate thresholds: 0 and the midpoints between consecutive observed confidences
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
    correct = [int(np.sum((confidence >= t) == present)) for t in candidates]
    return float(candidates[int(np.argmax(correct))])
