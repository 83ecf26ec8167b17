"""A fold records what it was trained from; changed inputs make its checkpoints stale, a user's files stay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nnlandmark.provenance import stat_fingerprint
from nnlandmark.training.fold_provenance import (
    PROVENANCE_FILE,
    fold_fingerprint,
    prepare_fold_dir,
    stale_reason,
)

PLANS = {"plans_name": "nnUNetPlans", "configurations": {"3d_fullres": {"patch_size": [32, 32, 32]}}}
DATASET_JSON = {"file_ending": ".nii.gz", "landmarks": ["a", "b"]}
SPLIT = {"train": ["c1", "c2"], "val": ["c3"]}
RECIPE = {"loss": "ssce", "epochs": 3, "save_every": 1}


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    for sub in ("imagesTr", "labelsTr", "landmarksTr"):
        (folder / sub).mkdir(parents=True)
    for case in ("c1", "c2", "c3"):
        (folder / "imagesTr" / f"{case}_0000.nii.gz").write_bytes(f"image {case}".encode())
        (folder / "labelsTr" / f"{case}.nii.gz").write_bytes(f"labels {case}".encode())
        (folder / "landmarksTr" / f"{case}.json").write_text(json.dumps({"case": case}))
    return folder


def fingerprint(raw: Path, **changes: object) -> dict[str, str]:
    args = {"raw_folder": raw, "plans": PLANS, "dataset_json": DATASET_JSON, "split": SPLIT, "recipe": RECIPE,
            "seed": 0}
    args.update(changes)
    return fold_fingerprint(**args)  # type: ignore[arg-type]


def test_each_input_changes_only_its_own_part(raw: Path) -> None:
    base = fingerprint(raw)
    assert fingerprint(raw) == base
    changed = {
        "recipe": fingerprint(raw, recipe={**RECIPE, "loss": "mse"}),
        "plans": fingerprint(raw, plans={**PLANS, "plans_name": "other"}),
        "dataset_json": fingerprint(raw, dataset_json={**DATASET_JSON, "landmarks": ["a"]}),
        "split": fingerprint(raw, split={"train": ["c1"], "val": ["c2", "c3"]}),
    }
    for part, other in changed.items():
        assert {k for k in base if base[k] != other[k]} == {part}
    assert fingerprint(raw, seed=1)["recipe"] != base["recipe"]
    # how often state is saved does not change what is learned
    assert fingerprint(raw, recipe={**RECIPE, "save_every": 50}) == base
    (raw / "labelsTr" / "c3.nii.gz").write_bytes(b"edited")
    assert {k for k, v in fingerprint(raw).items() if v != base[k]} == {"data"}


def test_checkpoints_from_other_inputs_are_discarded_but_a_users_files_stay(raw: Path, tmp_path: Path) -> None:
    fold = tmp_path / "fold_0"
    base = fingerprint(raw)
    assert stale_reason(fold, base) is None  # nothing trained yet
    prepare_fold_dir(fold, base, fold=0)
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth"):
        (fold / name).write_bytes(b"weights")
    (fold / "validation").mkdir()
    (fold / "validation" / "summary.json").write_text("{}")
    (fold / "notes.txt").write_text("mine")
    assert stale_reason(fold, base) is None
    prepare_fold_dir(fold, base, fold=0)
    assert (fold / "checkpoint_final.pth").is_file()

    other = fingerprint(raw, recipe={**RECIPE, "loss": "mse"})
    assert "(recipe)" in (stale_reason(fold, other) or "")
    prepare_fold_dir(fold, other, fold=0)
    assert not (fold / "checkpoint_final.pth").exists() and not (fold / "checkpoint_latest.pth").exists()
    assert not (fold / "validation").exists()
    assert (fold / "notes.txt").read_text() == "mine"
    assert json.loads((fold / PROVENANCE_FILE).read_text())["fingerprint"] == other


def test_checkpoints_without_a_record_are_not_trusted(raw: Path, tmp_path: Path) -> None:
    fold = tmp_path / "fold_0"
    fold.mkdir()
    (fold / "checkpoint_latest.pth").write_bytes(b"weights")
    assert PROVENANCE_FILE in (stale_reason(fold, fingerprint(raw)) or "")


def test_a_file_edited_in_place_with_its_old_mtime_changes_the_source_fingerprint(tmp_path: Path) -> None:
    image = tmp_path / "case.nii.gz"
    image.write_bytes(b"abcd")
    before = stat_fingerprint([image])
    stat = image.stat()
    time.sleep(0.05)  # file times advance in clock ticks (a few ms), as a user's edit later would
    image.write_bytes(b"wxyz")  # same size
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert image.stat().st_mtime_ns == stat.st_mtime_ns
    assert stat_fingerprint([image]) != before
    renamed = tmp_path / "other.nii.gz"
    after = stat_fingerprint([image])
    time.sleep(0.05)
    image.rename(renamed)
    assert stat_fingerprint([renamed]) != after
