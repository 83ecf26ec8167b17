"""Folds ensembled together must come from one training setup: their provenance records must agree."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from nnlandmark.errors import InputError

log = logging.getLogger(__name__)

# Written by training (``nnlandmark.training.fold_provenance.PROVENANCE_FILE``); named here again so that
# prediction does not import training (a test checks both names agree).
FOLD_RECORD = "nnlandmark_fold.json"
# Parts of a fold's fingerprint that must agree across an ensemble; ``split`` and ``data`` differ by design.
SHARED_PARTS = ("recipe", "plans", "dataset_json")


class FoldMismatchError(InputError):
    """The chosen folds were trained from different recipes, plans or dataset.json."""


def _shared_fingerprint(record: Path) -> tuple[str | None, ...]:
    try:
        fingerprint = json.loads(record.read_text(encoding="utf-8"))["fingerprint"]
        return tuple(fingerprint.get(part) for part in SHARED_PARTS)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{record} is unreadable (expected JSON with a 'fingerprint' object); "
                         "copy the model folder again, or leave this fold out with -f") from None


def _listed(folds: Sequence[int]) -> str:
    return f"fold {folds[0]}" if len(folds) == 1 else f"folds {', '.join(str(f) for f in folds)}"


def check_folds_agree(model_dir: Path, folds: Sequence[int]) -> None:
    """Refuse ensembling folds whose ``nnlandmark_fold.json`` differ in recipe, plans or dataset.json.

    Folds without a record (models trained before records were written) are allowed, with a warning.
    """
    groups: dict[tuple[str | None, ...], list[int]] = {}
    unrecorded = []
    for fold in folds:
        record = Path(model_dir) / f"fold_{fold}" / FOLD_RECORD
        if record.is_file():
            groups.setdefault(_shared_fingerprint(record), []).append(fold)
        else:
            unrecorded.append(fold)
    if unrecorded and len(folds) > 1:
        log.warning("%s of %s %s no %s (trained by an older version): cannot check that the ensembled folds "
                    "were trained alike", _listed(unrecorded), model_dir, "has" if len(unrecorded) == 1 else "have",
                    FOLD_RECORD)
    if len(groups) <= 1:
        return
    fingerprints = list(groups)
    differing = [part for i, part in enumerate(SHARED_PARTS) if len({fp[i] for fp in fingerprints}) > 1]
    listed = " vs ".join(_listed(group) for group in groups.values())
    message = (
        f"{listed} of {model_dir} were trained from different {', '.join(differing)} "
        f"(fold_N/{FOLD_RECORD}): their ensemble would average unrelated models; choose folds of one "
        "training run with -f, or retrain the others"
    )
    raise FoldMismatchError(message)
