"""Absent landmarks: a confidence threshold chosen on the folds' validation cases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


UNSEEN_LOG_PROBABILITY = 0.5
"""Absence threshold of a ``log_probability`` model where validation saw no absent landmark: present when
the network puts at least half of the landmark's probability around its peak, i.e. finds it more likely there
than anywhere else or nowhere (the null outcome)."""


def unseen_absence_threshold(activation: str, configured: float | None = None) -> float:
    """The threshold where validation shows no absent landmark: ``configured`` (``predict.unseen_absent_below``)
    when set, else :data:`UNSEEN_LOG_PROBABILITY` for models whose confidence is a probability mass
    (``log_probability``) and 0 (always present) for the others, whose confidence has no such meaning."""
    if configured is not None:
        return float(configured)
    return UNSEEN_LOG_PROBABILITY if activation == "log_probability" else 0.0


def choose_absence_threshold(validation: Iterable[tuple[bool, float]], *, unseen: float = 0.0) -> float:
    """Threshold on confidence that best separates present from absent reference landmarks.

    ``validation`` yields (reference_present, confidence) pairs. The threshold maximises the number of
    correct present/absent calls; among equally good ones the lowest is kept, so a landmark is only called
    absent when validation data showed that its confidence drops. Without absent references it is ``unseen``
    (:func:`unseen_absence_threshold`).
    """
    pairs = [(bool(p), float(c)) for p, c in validation if np.isfinite(c)]
    if not any(not p for p, _ in pairs):
        return float(unseen)
    present = np.array([p for p, _ in pairs])
    confidence = np.array([c for _, c in pairs])
    values = np.unique(confidence)
    # candidate thresholds: 0 and the midpoints between consecutive observed confidences
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
    correct = [int(np.sum((confidence >= t) == present)) for t in candidates]
    return float(candidates[int(np.argmax(correct))])


# the record keys of each inference mode's confidence and error (``validate_cases``)
RECORD_KEYS = {"full": ("confidence", "error_mm"), "guided": ("guided_confidence", "guided_error_mm")}


def is_gross_failure(record: Mapping[str, Any], gross_error_mm: float, *, inference: str = "full") -> bool:
    """Whether a validation record is a present landmark that its fold placed beyond ``gross_error_mm``."""
    error = record.get(RECORD_KEYS[inference][1])
    return bool(record["reference_present"] and error is not None and error > gross_error_mm)


def has_guided_validation(summaries: Iterable[Mapping[str, Any]]) -> bool:
    """Whether every record of the folds' validation has a guided-mode confidence (models trained since it exists)."""
    records = [r for summary in summaries for r in summary.get("confidences", [])]
    return bool(records) and all("guided_confidence" in r for r in records)


def threshold_from_validation(summaries: Iterable[Mapping[str, Any]], *, inference: str = "full") -> float:
    """The absence threshold chosen on the folds' whole-case validation (``validate_cases`` summaries).

    A present landmark that its fold placed on a wrong structure (a gross failure, beyond the summary's
    ``gross_error_mm``) is left out: either call on it is wrong (present at the wrong place, or absent), so it
    says nothing about where present and absent landmarks part, and a fold that has not learned one landmark
    would otherwise drag the threshold to zero. Records written before ``error_mm`` existed all count.
    ``inference``: whose confidences and errors (``full``, or ``guided`` where :func:`has_guided_validation`).
    """
    confidence_key, _ = RECORD_KEYS[inference]
    return choose_absence_threshold((r["reference_present"], r[confidence_key])
                                    for r in _informative_records(summaries, inference))


def _informative_records(summaries: Iterable[Mapping[str, Any]], inference: str) -> list[Mapping[str, Any]]:
    """The validation records a threshold is chosen on: all but the gross failures (see threshold_from_validation)."""
    records: list[Mapping[str, Any]] = []
    for summary in summaries:
        gross_mm = float(summary.get("gross_error_mm", np.inf))
        records += [r for r in summary.get("confidences", []) if not is_gross_failure(r, gross_mm, inference=inference)]
    return records


@dataclass(frozen=True)
class AbsenceThresholds:
    """The absence thresholds of a model: one for every landmark, and landmarks' own where validation had both.

    A network's confidences have a scale of their own per landmark: a structure it finds hard (a navel on a
    smooth wall) keeps a low confidence where it is present, and one threshold for all landmarks is pulled down
    to it, below the confidence an absent sphere's channel keeps. A landmark whose validation records show it
    both absent and present (mirror twins pooled: they look alike and are absent alike) gets its own threshold,
    chosen by the same rule on its own records; the others keep the overall one.
    """

    overall: float
    landmarks: dict[str, float] = field(default_factory=dict)

    def for_names(self, names: Sequence[str]) -> np.ndarray:
        """(K,) thresholds of ``names``, in that order."""
        return np.asarray([self.landmarks.get(n, self.overall) for n in names], dtype=np.float64)


def thresholds_from_validation(summaries: Iterable[Mapping[str, Any]], *, inference: str = "full",
                               twins: Sequence[Sequence[str]] = (), unseen: float = 0.0) -> AbsenceThresholds:
    """:func:`threshold_from_validation` overall, plus each landmark's own where its records (pooled with its
    mirror twin from ``twins``) hold both absent and present references (:class:`AbsenceThresholds`); the
    overall one is ``unseen`` where no record is absent."""
    confidence_key, _ = RECORD_KEYS[inference]
    records = _informative_records(summaries, inference)
    twin_of = {a: b for pair in twins for a, b in (tuple(pair), tuple(pair)[::-1])}
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:  # a pair's records under the first of its two names
        name = r["landmark"]
        by_group.setdefault(min(name, twin_of.get(name, name)), []).append(r)
    own: dict[str, float] = {}
    for name, rows in by_group.items():
        if {bool(r["reference_present"]) for r in rows} == {True, False}:
            own[name] = choose_absence_threshold((r["reference_present"], r[confidence_key]) for r in rows)
            if name in twin_of:
                own[twin_of[name]] = own[name]
    overall = choose_absence_threshold(((r["reference_present"], r[confidence_key]) for r in records), unseen=unseen)
    return AbsenceThresholds(overall, own)  # overall: threshold_from_validation's, from the same records
