"""Inter-rater comparison: rater-vs-rater errors, and each annotation and the model against the others' consensus.

An *annotation* is one rater's landmark set of a case; the reference (``landmarksTs``) counts as one.
Wherever a case has two or more annotations:

- every pair of annotations gives a rater-vs-rater radial error per landmark;
- every annotation is compared with the **leave-one-out consensus**: the mean (LPS mm) of the *other*
  annotations of that case that mark the landmark present (absent when none does). The model's prediction
  is compared with the very same consensus point, so annotation and model are judged on the same cases,
  landmarks and targets, and their errors pair up for a signed-rank test.

When the reference is itself the raters' consensus (``reference_is_consensus``, e.g. the AFIDs ground
truth is the mean of its raters), it is left out of the annotations: it contains each rater, so it would
pull every leave-one-out consensus towards the held-out rater and make rater-vs-reference distances small by
construction. Each rater is then compared with the mean of the *other raters*, and the model with that same
point. Comparing the model with the mean of all raters (the reference) instead would give it a less noisy
target (a mean of n raters rather than n - 1) than the rater it is set against, favouring the model; its
error against the reference is the accuracy table's.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nnlandmark.landmarks.landmark_set import LandmarkSet

logger = logging.getLogger(__name__)

REFERENCE = "reference"
CONSENSUS_RULE = (
    "leave-one-out consensus: the mean (LPS mm) of the other annotations of the case that mark the "
    "landmark present (the reference counts as one annotation); absent when none does"
)
RATER_CONSENSUS_RULE = (
    "leave-one-out consensus: the mean (LPS mm) of the other raters of the case that mark the landmark "
    "present; the reference, itself the raters' mean, is left out (it contains the held-out rater), and the "
    "model is measured against the same point (its error against the reference, the mean of all raters, is "
    "the accuracy table's); absent when no other rater marks the landmark"
)


def consensus_rule(reference_is_consensus: bool) -> str:
    """How the consensus is formed, for captions."""
    return RATER_CONSENSUS_RULE if reference_is_consensus else CONSENSUS_RULE


def compared_annotations(
    annotations: Mapping[str, Mapping[str, LandmarkSet]], *, reference_is_consensus: bool
) -> Mapping[str, Mapping[str, LandmarkSet]]:
    """The annotations that take part: all of them, or the raters only when the reference is their consensus."""
    if not reference_is_consensus:
        return annotations
    return {a: per_case for a, per_case in annotations.items() if a != REFERENCE}
PAIR_COLUMNS = ["annotator_a", "annotator_b", "case", "landmark", "a_present", "b_present", "error_mm"]
CONSENSUS_COLUMNS = [
    "annotator", "case", "landmark", "consensus_of", "n_consensus", "annotator_present", "consensus_present",
    "model_present", "annotator_error_mm", "model_error_mm",
]


def multi_annotated_cases(annotations: Mapping[str, Mapping[str, LandmarkSet]]) -> list[str]:
    """Cases (sorted) with at least two annotations."""
    counts: dict[str, int] = {}
    for per_case in annotations.values():
        for case in per_case:
            counts[case] = counts.get(case, 0) + 1
    return sorted(c for c, n in counts.items() if n >= 2)


def _names(annotations: Mapping[str, Mapping[str, LandmarkSet]]) -> tuple[str, ...]:
    """Landmark order: that of the first annotation seen (the reference when given first)."""
    for per_case in annotations.values():
        for landmarks in per_case.values():
            return landmarks.names
    return ()


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance; NaN where either point is NaN (absent)."""
    return np.linalg.norm(a - b, axis=1)


def pairwise_rater_errors(
    annotations: Mapping[str, Mapping[str, LandmarkSet]], *, reference_is_consensus: bool = False
) -> pd.DataFrame:
    """One row per pair of annotators (in the mapping's order), case with both annotations, and landmark.

    ``error_mm`` is NaN unless both annotations mark the landmark present. With ``reference_is_consensus``
    the reference is left out (pairs of raters only).
    """
    annotations = compared_annotations(annotations, reference_is_consensus=reference_is_consensus)
    names = _names(annotations)
    frames = []
    for a, b in itertools.combinations(list(annotations), 2):
        for case in sorted(set(annotations[a]) & set(annotations[b])):
            first, second = annotations[a][case].reorder(names), annotations[b][case].reorder(names)
            frames.append(pd.DataFrame({
                "annotator_a": a, "annotator_b": b, "case": case, "landmark": list(names),
                "a_present": first.present, "b_present": second.present,
                "error_mm": _distance(first.points, second.points),
            }, columns=PAIR_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def consensus_errors(
    annotations: Mapping[str, Mapping[str, LandmarkSet]],
    model: Mapping[str, LandmarkSet],
    *,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """Each annotation and the model against the leave-one-out consensus of the other annotations.

    One row per held-out annotator, case (with a model prediction and at least one other annotation) and
    landmark. ``consensus_of`` names the annotations averaged for that row (``;``-separated);
    ``annotator_error_mm`` / ``model_error_mm`` are NaN unless both points they compare are present.
    With ``reference_is_consensus`` the reference is left out: raters are held out against the other raters.
    """
    annotations = compared_annotations(annotations, reference_is_consensus=reference_is_consensus)
    names = _names(annotations)
    cases = [c for c in multi_annotated_cases(annotations) if c in model]
    skipped = sorted(set(multi_annotated_cases(annotations)) - set(cases))
    if skipped:
        logger.warning("no model prediction for %d multi-annotated case(s), not compared: %s",
                       len(skipped), ", ".join(skipped))
    frames = []
    for held_out in annotations:
        for case in cases:
            if case not in annotations[held_out]:
                continue
            others = [a for a in annotations if a != held_out and case in annotations[a]]
            sets = {a: annotations[a][case].reorder(names) for a in others}
            stacked = np.stack([sets[a].points for a in others])  # (n_others, K, 3), NaN where absent
            present = np.stack([sets[a].present for a in others])  # (n_others, K)
            n_consensus = present.sum(axis=0)
            consensus = np.full((len(names), 3), np.nan)
            some = n_consensus > 0
            consensus[some] = np.nanmean(stacked[:, some], axis=0)
            own = annotations[held_out][case].reorder(names)
            predicted = model[case].reorder(names)
            frames.append(pd.DataFrame({
                "annotator": held_out, "case": case, "landmark": list(names),
                "consensus_of": [";".join(a for a, p in zip(others, present[:, k]) if p) for k in range(len(names))],
                "n_consensus": n_consensus.astype(int), "annotator_present": own.present,
                "consensus_present": some, "model_present": predicted.present,
                "annotator_error_mm": _distance(own.points, consensus),
                "model_error_mm": _distance(predicted.points, consensus),
            }, columns=CONSENSUS_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=CONSENSUS_COLUMNS)
    return pd.concat(frames, ignore_index=True)
