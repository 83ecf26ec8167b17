"""The trainer's final validation hands its network and validation cases to whole-case validation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from nnlandmark.landmarks import LandmarkSet, write_landmarks

SHAPE = (12, 12, 12)


class FlatLogits(nn.Module):
    """Equal logits everywhere: the decoded points are arbitrary; what is tested is where the results go."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 3, *x.shape[2:])


class OneCase:
    """Stands in for nnU-Net's dataset class: one preprocessed case with identity geometry."""

    def __init__(self, folder: str, identifiers: list[str]) -> None:
        self.identifiers = identifiers

    def load_case(self, identifier: str) -> tuple[np.ndarray, None, None, dict]:
        properties = {"shape_before_cropping": SHAPE, "shape_after_cropping_and_before_resampling": SHAPE,
                      "bbox_used_for_cropping": [[0, s] for s in SHAPE],
                      "sitk_stuff": {"spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0),
                                     "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}}
        return np.zeros((1, *SHAPE), dtype=np.float32), None, None, properties


def test_final_validation_writes_landmarks_and_summary(make_trainer: Callable[..., Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = make_trainer()
    trainer.network = FlatLogits()
    trainer.dataset_class = OneCase
    monkeypatch.setattr(trainer, "do_split", lambda: (["case_1"], ["case_0"]))
    reference = Path(os.environ["nnUNet_raw"]) / trainer.plans_manager.dataset_name / "landmarksTr"
    reference.mkdir(parents=True)
    names = tuple(trainer.dataset_json["landmarks"])
    write_landmarks(reference / "case_0.json", LandmarkSet(names, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [True, True]))

    trainer.perform_actual_validation()

    validation = Path(trainer.output_folder) / "validation"
    summary = json.loads((validation / "summary.json").read_text())
    assert summary["n_cases"] == 1 and np.isfinite(summary["mre_mm"])
    assert (validation / "case_0.json").is_file()


def test_final_validation_decodes_with_the_folds_landmark_prior_as_prediction_does(
        make_trainer: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # the absence threshold is chosen on these confidences: they must come from the decoding prediction uses
    import nnlandmark.training.trainer as trainer_module
    from nnlandmark.inference.landmark_prior import LandmarkPrior

    trainer = make_trainer()
    trainer.network = FlatLogits()
    trainer.dataset_class = OneCase
    trainer.prior = LandmarkPrior(np.full((2, 3), 0.5), np.full((2, 3), 0.1), np.array([5, 5]))
    monkeypatch.setattr(trainer, "do_split", lambda: (["case_1"], ["case_0"]))
    seen = {}

    def capture(predictor: Any, dataset: Any, *, out_folder: Path, **kwargs: Any) -> dict[str, Any]:
        seen["full"], seen["guided"] = predictor, kwargs.get("guided")
        out_folder.mkdir(parents=True)
        return {"n_cases": 1, "mre_mm": 1.0, "guided_mre_mm": 1.0}

    monkeypatch.setattr(trainer_module, "validate_cases", capture)
    trainer.perform_actual_validation()
    assert seen["full"].inference == "full" and seen["full"].prior is trainer.prior
    if seen["guided"] is not None:  # an ssce_null trainer validates the guided mode too, from the same prior
        assert seen["guided"].inference == "guided" and seen["guided"].prior is trainer.prior
