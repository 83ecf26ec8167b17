"""What a fold was trained from, stored beside its checkpoints, so a changed input retrains instead of reusing."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlandmark.atomic_write import write_text_atomic
from nnlandmark.provenance import changed_parts, files_digest, json_digest

log = logging.getLogger(__name__)

PROVENANCE_FILE = "nnlandmark_fold.json"
CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth")
# Keys of the recipe that change how often state is saved, not what is learned.
NOT_LEARNING = ("save_every",)


def case_files(raw_folder: Path, case_id: str, file_ending: str) -> list[Path]:
    """The raw files of a training case: its image channels, blob labels and exact landmarks."""
    images = sorted((raw_folder / "imagesTr").glob(f"{case_id}_[0-9][0-9][0-9][0-9]{file_ending}"))
    if not images:
        raise FileNotFoundError(f"no image of training case {case_id!r} in {raw_folder / 'imagesTr'}; "
                                f"re-run the conversion (snakemake --forcerun convert_dataset)")
    return images + [raw_folder / "labelsTr" / f"{case_id}{file_ending}", raw_folder / "landmarksTr" / f"{case_id}.json"]


def fold_fingerprint(
    *,
    raw_folder: Path,
    plans: Mapping[str, Any],
    dataset_json: Mapping[str, Any],
    split: Mapping[str, Any],
    recipe: Mapping[str, Any],
    seed: int,
) -> dict[str, str]:
    """Digests of everything a fold's weights follow from: recipe, plans, dataset.json, split and case contents."""
    learning = {k: v for k, v in recipe.items() if k not in NOT_LEARNING}
    cases = sorted(split["train"]) + sorted(split["val"])
    ending = dataset_json["file_ending"]
    data = {case: files_digest(case_files(raw_folder, case, ending)) for case in cases}
    return {
        "recipe": json_digest({**learning, "seed": seed}),
        "plans": json_digest(plans),
        "dataset_json": json_digest(dataset_json),
        "split": json_digest({"train": sorted(split["train"]), "val": sorted(split["val"])}),
        "data": json_digest(data),
    }


def stale_reason(fold_dir: Path, fingerprint: Mapping[str, str]) -> str | None:
    """Why the fold's existing checkpoints cannot be reused or resumed, or None when they can (or there are none)."""
    if not any((fold_dir / name).is_file() for name in CHECKPOINTS):
        return None
    record = fold_dir / PROVENANCE_FILE
    if not record.is_file():
        return f"{record.name} is missing, so it is unknown what its checkpoints were trained from"
    try:
        stored = json.loads(record.read_text())["fingerprint"]
    except (ValueError, KeyError, TypeError):
        return f"{record} is unreadable"
    changed = changed_parts(stored, fingerprint)
    if changed:
        return f"its inputs changed since it was trained ({', '.join(changed)})"
    return None


def discard_checkpoints(fold_dir: Path) -> None:
    """Remove the checkpoints and whole-case validation that this tool wrote into ``fold_dir``."""
    for name in CHECKPOINTS:
        (fold_dir / name).unlink(missing_ok=True)
    validation = fold_dir / "validation"
    if validation.is_dir():
        shutil.rmtree(validation)


def record_fingerprint(fold_dir: Path, fingerprint: Mapping[str, str]) -> None:
    """Store what the fold is trained from, before training starts, so a resumed checkpoint can be checked."""
    fold_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(fold_dir / PROVENANCE_FILE, json.dumps({"fingerprint": dict(fingerprint)}, indent=2))


def prepare_fold_dir(fold_dir: Path, fingerprint: Mapping[str, str], *, fold: int) -> None:
    """Discard checkpoints trained from other inputs (saying why), then record the current fingerprint."""
    reason = stale_reason(fold_dir, fingerprint)
    if reason is not None:
        log.warning("fold %d: not reusing or resuming %s: %s; training it again from scratch", fold, fold_dir, reason)
        discard_checkpoints(fold_dir)
    record_fingerprint(fold_dir, fingerprint)
