"""Images larger than the patch: a perfect model, windows with random logit offsets, nnU-Net's own stitching.

The ``ssce_null`` network's outputs are absolute log-probabilities, so every window agrees and the stitched
map decodes to the exact landmark; the old spatial-softmax outputs are only defined up to a per-window
constant, which stitching turns into a slope that moves the decoded peak.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import decode_heatmaps
from nnlandmark.inference.landmark_predictor import LandmarkPredictor, predictor_for_network
from tests.inference import perfect_model as pm

NAMES = ("border_z", "border_y", "window_seam", "pair_a", "pair_b", "inside")
# (z, y, x) voxels of the 96^3 image; windows start at 0, 24 and 48 on every axis
CENTRES = np.array([
    [1.3, 50.4, 93.6],    # a voxel and a bit from the image border (z) and from the far border (x)
    [47.2, 1.6, 20.3],    # near the y border, on the edge of two windows along z
    [23.7, 47.5, 48.2],   # where windows meet on every axis
    [60.2, 40.3, 40.7],   # pair_a and pair_b: 2.5 voxels apart, in different channels
    [60.6, 42.1, 42.4],
    [70.4, 70.9, 12.2],
])


def stitched(network: torch.nn.Module, *, activation: str) -> tuple[LandmarkPredictor, torch.Tensor]:
    plans = pm.plans()
    predictor = predictor_for_network(network, plans, plans.get_configuration("3d_fullres"), pm.dataset_json(NAMES),
                                      names=NAMES, activation=activation, device=torch.device("cpu"),
                                      sigma_vox=pm.SIGMA_VOX)
    return predictor, predictor.predictor.predict_sliding_window_return_logits(pm.coordinate_image()).cpu()


@pytest.mark.parametrize("amplitude", [0.0, 1.0, 3.0, 10.0])
def test_null_model_decodes_every_landmark_within_a_quarter_voxel_whatever_the_window_offsets(amplitude: float) -> None:
    predictor, logits = stitched(pm.null_network(CENTRES, amplitude=amplitude, seed=1), activation="log_probability")
    assert logits.dtype == torch.float16  # nnU-Net's accumulator
    positions, confidence = decode_heatmaps(logits, activation="log_probability", radius=predictor.confidence_radius)
    errors = np.abs(positions - CENTRES).max(axis=1)
    assert errors.max() < 0.25, dict(zip(NAMES, errors.round(3)))
    # the mass within +-2 sigma of the peak: ~0.95^3 inside the image; near its border part of it lies outside
    assert np.all(confidence[2:] > 0.9) and np.all((confidence > 0.5) & (confidence <= 1.0)), confidence
    # the stitched map is the normalised Gaussian itself: its peak value is the continuous one, not a window's
    peak = logits[1 + 5, 70, 71, 12].float().item()
    expected = pm.gaussian_peak_log_probability() - 0.5 * sum(
        (d / s) ** 2 for d, s in zip((70 - 70.4, 71 - 70.9, 12 - 12.2), pm.SIGMA_VOX))
    assert peak == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("level", [-1000.0, 37.0, 1000.0])
def test_null_model_output_does_not_depend_on_the_raw_logit_level(level: float) -> None:
    """The wrapper normalises in float32 before nnU-Net's float16 accumulator sees anything."""
    predictor, logits = stitched(pm.null_network(CENTRES, amplitude=3.0, level=level, seed=2),
                                 activation="log_probability")
    positions, _ = decode_heatmaps(logits, activation="log_probability", radius=predictor.confidence_radius)
    assert np.abs(positions - CENTRES).max() < 0.05


@pytest.mark.parametrize("amplitude", [3.0, 10.0])
def test_old_spatial_softmax_stitching_misplaces_landmarks_under_window_offsets(amplitude: float) -> None:
    """Documents the failure the null outcome fixes (issue 10.1): same perfect model, no null, softmax decoding."""
    predictor, logits = stitched(pm.PlainNetwork(CENTRES, amplitude=amplitude, seed=1), activation="softmax")
    positions, _ = decode_heatmaps(logits, activation="softmax")
    assert np.abs(positions - CENTRES).max() > 0.25


def test_old_spatial_softmax_without_offsets_is_exact_so_the_offsets_are_the_cause() -> None:
    predictor, logits = stitched(pm.PlainNetwork(CENTRES, amplitude=0.0), activation="softmax")
    positions, _ = decode_heatmaps(logits, activation="softmax")
    assert np.abs(positions - CENTRES).max() < 0.25
