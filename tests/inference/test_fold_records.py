"""Ensembled folds must come from one training setup: their provenance records agree on recipe, plans and
dataset.json (split and data differ by design); folds without a record load with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from nnlandmark.inference.fold_records import FOLD_RECORD, FoldMismatchError, check_folds_agree
from nnlandmark.inference.landmark_predictor import load_model
from nnlandmark.inference.model_archive import export_model
from nnlandmark.training.fold_provenance import PROVENANCE_FILE
from tests.inference.tiny_model import make_model_folder


def set_part(model: Path, fold: int, part: str, value: str) -> None:
    record = model / f"fold_{fold}" / FOLD_RECORD
    data = json.loads(record.read_text())
    data["fingerprint"][part] = value
    record.write_text(json.dumps(data))


def test_the_record_name_is_the_one_training_writes() -> None:
    assert FOLD_RECORD == PROVENANCE_FILE


def test_folds_of_one_setup_agree_despite_their_splits(tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model", folds=(0, 1, 2))
    check_folds_agree(model, [0, 1, 2])


def test_differing_folds_are_named_with_the_differing_parts(tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model", folds=(0, 1, 2))
    set_part(model, 2, "recipe", "other")
    set_part(model, 2, "plans", "other")
    with pytest.raises(FoldMismatchError) as error:
        check_folds_agree(model, [0, 1, 2])
    assert f"folds 0, 1 vs fold 2 of {model} were trained from different recipe, plans" in str(error.value)
    check_folds_agree(model, [0, 1])  # leaving the odd fold out is fine
    with pytest.raises(FoldMismatchError, match="different recipe, plans"):
        load_model(model, folds=[0, 2], device=torch.device("cpu"))
    with pytest.raises(FoldMismatchError, match="different recipe, plans"):
        export_model(model, tmp_path / "model.zip")
    assert not (tmp_path / "model.zip").exists()


def test_dataset_json_counts_too(tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model")
    set_part(model, 1, "dataset_json", "other")
    with pytest.raises(FoldMismatchError, match=r"fold 0 vs fold 1 .* different dataset_json"):
        check_folds_agree(model, [0, 1])


def test_folds_without_records_load_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = make_model_folder(tmp_path / "model", records=False)
    with caplog.at_level(logging.WARNING, logger="nnlandmark"):
        predictor = load_model(model, folds=[0, 1], device=torch.device("cpu"))
    assert predictor.names == ("nasion", "sella")
    assert "folds 0, 1 of" in caplog.text and "cannot check that the ensembled folds were trained alike" in caplog.text


def test_an_unreadable_record_is_named(tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model")
    (model / "fold_1" / FOLD_RECORD).write_text("{not json")
    with pytest.raises(ValueError, match=rf"{FOLD_RECORD} is unreadable"):
        check_folds_agree(model, [0, 1])
