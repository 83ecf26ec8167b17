"""Whole-case validation: each case predicted through nnU-Net's sliding window, scored in mm against its file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from torch import nn

from nnlandmark.inference.landmark_predictor import predictor_for_network
from nnlandmark.inference.whole_case_validation import validate_cases
from nnlandmark.landmarks import LandmarkSet, read_landmarks, write_landmarks

NAMES = ("nasion", "sella", "porion")
SHAPE = (16, 16, 16)
PEAKS = torch.tensor([[5.0, 7.0, 9.0], [10.0, 4.0, 6.0], [8.0, 8.0, 8.0]])  # preprocessed (z, y, x) voxels
PLANS = {
    "dataset_name": "Dataset999_Tiny", "plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
    "transpose_backward": [0, 1, 2], "image_reader_writer": "SimpleITKIO", "label_manager": "LabelManager",
    "configurations": {"3d_fullres": {"patch_size": list(SHAPE), "spacing": [1.0, 1.0, 1.0], "batch_size": 1,
                                      "architecture": {}}},  # the network is given, not built from the plans
}
DATASET_JSON = {"channel_names": {"0": "image"}, "file_ending": ".nii.gz", "landmarks": list(NAMES),
                "labels": {"background": 0, **{n: i + 1 for i, n in enumerate(NAMES)}}}


class PeakedLogits(nn.Module):
    """A perfect spatial-softmax model: log-Gaussians at :data:`PEAKS`, whatever the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in x.shape[2:]],
                                          indexing="ij"), dim=-1)
        logits = -((grid[None] - PEAKS[:, None, None, None]) ** 2).sum(-1) / (2 * 2.0**2)
        return torch.cat([torch.zeros(1, *x.shape[2:]), logits])[None].expand(x.shape[0], -1, -1, -1, -1)


class OneCase:
    """A preprocessed dataset of one case with identity geometry: world (x, y, z) mm = voxel (x, y, z)."""

    identifiers = ["case_0"]

    def load_case(self, identifier: str) -> tuple[np.ndarray, None, None, dict]:
        properties = {"shape_before_cropping": SHAPE, "shape_after_cropping_and_before_resampling": SHAPE,
                      "bbox_used_for_cropping": [[0, s] for s in SHAPE],
                      "sitk_stuff": {"spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0),
                                     "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}}
        return np.zeros((1, *SHAPE), dtype=np.float32), None, None, properties


def test_validation_scores_present_landmarks_and_reports_every_confidence(tmp_path: Path) -> None:
    plans_manager = PlansManager(PLANS)
    predictor = predictor_for_network(PeakedLogits(), plans_manager, plans_manager.get_configuration("3d_fullres"),
                                      DATASET_JSON, names=NAMES, activation="softmax", device=torch.device("cpu"))
    exact = PEAKS.numpy()[:, ::-1].astype(float)  # (z, y, x) voxels -> (x, y, z) mm
    reference = LandmarkSet(NAMES, exact + [[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]], [True, True, False])
    (tmp_path / "reference").mkdir()
    write_landmarks(tmp_path / "reference" / "case_0.json", reference)
    seen: list[str] = []

    summary = validate_cases(predictor, OneCase(), reference_folder=tmp_path / "reference",
                             out_folder=tmp_path / "validation", on_case=seen.append)

    assert seen == ["case_0"] and summary["n_cases"] == 1
    assert summary["mre_mm"] == pytest.approx(1.5, abs=0.05)  # 0 and 3 mm; the absent landmark is not scored
    assert summary["per_landmark_mre_mm"]["porion"] is None
    assert summary["n_landmarks"] == 2 and summary["max_mm"] == pytest.approx(3.0, abs=0.05)
    spacing = plans_manager.get_configuration("3d_fullres").spacing
    assert summary["gross_error_mm"] == pytest.approx(10 * min(spacing)) and summary["n_gross"] == 0
    assert [c["reference_present"] for c in summary["confidences"]] == [True, True, False]
    written = read_landmarks(tmp_path / "validation" / "case_0.json")
    np.testing.assert_allclose(written.points, exact, atol=0.05)
    json.dumps(summary)  # the trainer writes it as summary.json
    assert not any("guided_confidence" in c for c in summary["confidences"])  # no guided predictor given


def test_a_guided_predictor_adds_its_own_confidences_and_errors(tmp_path: Path) -> None:
    """An ssce_null fold is validated in the guided mode too: its records carry the guided confidence and error."""
    import dataclasses

    from nnlandmark.inference.landmark_prior import LandmarkPrior
    from tests.inference import perfect_model as pm

    image_shape, patch = (40, 112, 112), (32, 48, 48)  # 2 x 4 x 4 windows
    centres = np.array([[20.3, 30.2, 40.7], [12.4, 86.6, 88.2], [-400.0, 60.0, 60.0]])  # the last: not in the case
    names = ("a", "b", "gone")

    class CoordinateCase:
        identifiers = ["case_0"]

        def load_case(self, identifier: str) -> tuple[np.ndarray, None, None, dict]:
            return pm.coordinate_image(image_shape).numpy(), None, None, pm.identity_properties(image_shape)

    plans = pm.plans(patch)
    full = predictor_for_network(pm.null_network(centres), plans, plans.get_configuration("3d_fullres"),
                                 pm.dataset_json(names), names=names, activation="log_probability",
                                 device=torch.device("cpu"), sigma_vox=pm.SIGMA_VOX)
    size = np.asarray(image_shape, dtype=np.float64)
    fractions = np.where(np.abs(centres) < 300, centres + 0.5, size / 2) / size
    prior = LandmarkPrior(fractions, np.full_like(fractions, 3.0) / size, np.full(3, 20))
    guided = dataclasses.replace(full, inference="guided", prior=prior)
    (tmp_path / "reference").mkdir()
    present = np.array([True, True, False])
    reference = LandmarkSet(names, np.where(present[:, None], centres[:, ::-1], 0.0), present)
    write_landmarks(tmp_path / "reference" / "case_0.json", reference)

    summary = validate_cases(full, CoordinateCase(), reference_folder=tmp_path / "reference",
                             out_folder=tmp_path / "validation", guided=guided)

    records = {r["landmark"]: r for r in summary["confidences"]}
    for name in ("a", "b"):
        assert records[name]["guided_error_mm"] < 0.3 and records[name]["guided_confidence"] > 0.8
    assert records["gone"]["guided_error_mm"] is None and records["gone"]["guided_confidence"] < 0.01
    assert summary["guided_mre_mm"] < 0.3 and summary["guided_n_gross"] == 0
    assert guided.last_cost["inference"] == "guided" and full.last_cost["inference"] == "full"
