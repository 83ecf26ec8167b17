"""The same case stored in any of the 48 axis orders and flips gives the same landmarks.

A model learns on arrays in the canonical orientation that conversion writes; prediction stores each image
the same way first, so a model whose peaks sit at fixed places of that array finds the same physical points
whatever orientation the file was stored in.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from torch import nn

from nnlandmark.inference.landmark_predictor import predictor_for_network
from nnlandmark.inference.sitk_input import nnunet_input
from tests.conftest import oblique_direction
from tests.inference import perfect_model as pm
from tests.landmarks.test_orientation import stored
from tests.nnunet_plans import preprocessing_plans

NAMES = ("a", "b", "c")
SIZE = (20, 18, 12)  # ITK (i, j, k) of the canonical image
SPACING = (0.8, 0.9, 2.0)
CENTRES = np.array([[3.3, 5.2, 7.7], [8.1, 12.6, 4.4], [6.0, 9.0, 15.5]])  # canonical numpy (z, y, x)
SIGMA = (1.0, 2.2, 2.5)


class FixedPeaks(nn.Module):
    """Exact log-probabilities of Gaussians at fixed array places, whatever the input: a perfect model of the
    canonical arrays it was trained on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in x.shape[2:]], indexing="ij")
        log_norm = pm.log_lattice_mass(CENTRES, SIGMA).sum(-1)
        maps = [torch.zeros(x.shape[2:], dtype=torch.float64)]
        for centre, norm in zip(CENTRES, log_norm):
            d2 = sum(((g - c) / s) ** 2 for g, c, s in zip(grids, centre, SIGMA))
            maps.append(-0.5 * d2 - norm)
        return torch.stack(maps)[None].expand(x.shape[0], -1, -1, -1, -1).float()


def plans() -> PlansManager:
    shape = SIZE[::-1]
    return preprocessing_plans("Dataset996_Turns", original_spacing=SPACING[::-1], target_spacing=SPACING[::-1],
                               shape=shape, patch=shape)


@pytest.fixture(scope="module")
def canonical() -> sitk.Image:
    image = sitk.GetImageFromArray(np.random.default_rng(3).normal(size=SIZE[::-1]).astype(np.float32))
    image.SetSpacing(SPACING)
    image.SetOrigin((-20.0, 7.0, 40.0))
    image.SetDirection(oblique_direction(15.0))
    return image


def test_all_48_storage_orientations_give_the_same_landmarks(canonical: sitk.Image) -> None:
    manager = plans()
    dataset_json = {"channel_names": {"0": "MRI"}, "file_ending": ".nii.gz", "landmarks": list(NAMES),
                    "labels": {"background": 0, **{n: i + 1 for i, n in enumerate(NAMES)}}}
    predictor = predictor_for_network(FixedPeaks(), manager, manager.get_configuration("3d_fullres"), dataset_json,
                                      names=NAMES, activation="log_probability", device=torch.device("cpu"),
                                      sigma_vox=SIGMA)
    expected = canonical_world = None
    spread = 0.0
    for axes in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            landmarks = predictor.predict_array(*nnunet_input([stored(canonical, axes, signs)]))
            if expected is None:
                expected = landmarks.points
                canonical_world = np.array([canonical.TransformContinuousIndexToPhysicalPoint(c[::-1].tolist())
                                            for c in CENTRES])
            spread = max(spread, float(np.abs(landmarks.points - expected).max()))
    assert spread < 1e-3, spread
    # and they are the canonical array's peaks, mapped through its own geometry (float16 logits: 0.05 mm)
    np.testing.assert_allclose(expected, canonical_world, atol=0.05)
