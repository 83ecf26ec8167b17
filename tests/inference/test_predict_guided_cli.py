"""``nnlandmark predict --inference guided``: runs on an ssce_null model, is refused on others in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nnlandmark import cli
from tests.inference.tiny_model import LANDMARKS, make_model_folder, write_image


@pytest.fixture(autouse=True)
def _runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"nnUNet_compile": "false", "nnUNet_n_proc_DA": "0", "nnUNet_def_n_proc": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)


def predict(*args: str | Path) -> int:
    return cli.main(["predict", *(str(a) for a in args), "--device", "cpu"])


def test_guided_and_full_both_predict_every_landmark_of_a_null_model(tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "nnLandmarkTrainer__nnUNetPlans__3d_fullres", activation="log_probability")
    write_image(tmp_path / "images" / "case1.nii.gz", size=(40, 36, 12))  # larger than the tiny plans' patch
    for mode in ("full", "guided"):
        assert predict("-i", tmp_path / "images", "-o", tmp_path / mode, "-m", model, "--inference", mode) == 0
        landmarks = json.loads((tmp_path / mode / "case1.json").read_text())["landmarks"]
        assert [entry["name"] for entry in landmarks] == list(LANDMARKS)


def test_guided_on_a_model_without_the_null_outcome_is_one_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_folder(tmp_path / "nnLandmarkTrainer__nnUNetPlans__3d_fullres")  # softmax (ssce)
    write_image(tmp_path / "images" / "case1.nii.gz")
    assert predict("-i", tmp_path / "images", "-o", tmp_path / "out", "-m", model, "--inference", "guided") == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nnlandmark predict: error:")]
    assert len(lines) == 1 and "ssce_null" in lines[0] and "--inference full" in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "case1.json").exists()
