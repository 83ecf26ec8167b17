"""sigma_mm: a Gaussian isotropic in millimetres, anisotropic in voxels on an anisotropic grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.inference.decode import confidence_radius, decode_channel, recipe_sigma_vox
from nnlandmark.training.losses import HeatmapLoss, HeatmapLossConfig
from nnlandmark.training.recipe import TrainingRecipe
from nnlandmark.training.targets import gaussian_factors, render_gaussian

SPACING = (2.5, 0.5, 0.5)  # mm per voxel along array axes (z, y, x)


def test_sigma_per_axis_is_sigma_mm_over_the_spacing() -> None:
    config = HeatmapLossConfig(sigma_mm=2.0)
    assert config.sigma_per_axis(SPACING) == pytest.approx((0.8, 4.0, 4.0))
    assert HeatmapLossConfig(sigma_vox=3.0).sigma_per_axis(SPACING) == (3.0, 3.0, 3.0)  # sigma_mm unset
    assert HeatmapLoss(config, spacing=SPACING).sigma == pytest.approx((0.8, 4.0, 4.0))


def test_target_is_isotropic_in_mm() -> None:
    centre = torch.tensor([[[6.0, 20.0, 20.0]]])
    heatmap = render_gaussian(centre, (12, 40, 40), sigma_vox=HeatmapLossConfig(sigma_mm=2.0).sigma_per_axis(SPACING))
    heatmap = heatmap[0, 0]
    # 5 mm away: 2 slices along z, 10 voxels along y or x -- the same value, exp(-(5/2)^2 / 2)
    expected = np.exp(-0.5 * (5.0 / 2.0) ** 2)
    for value in (heatmap[8, 20, 20], heatmap[4, 20, 20], heatmap[6, 30, 20], heatmap[6, 20, 10]):
        assert float(value) == pytest.approx(expected, rel=1e-5)
    # and the mm-isotropic Gaussian decodes to its centre on the anisotropic grid
    position, _ = decode_channel(torch.log(heatmap), activation="softmax")
    np.testing.assert_allclose(position, [6.0, 20.0, 20.0], atol=1e-3)


def test_gaussian_factors_take_one_sigma_per_axis() -> None:
    centre = torch.tensor([[[3.0, 3.0, 3.0]]])
    gz, gy, gx = gaussian_factors(centre, (7, 7, 7), sigma_vox=(1.0, 2.0, 3.0))
    assert float(gz[0, 0, 4]) == pytest.approx(np.exp(-0.5))
    assert float(gy[0, 0, 5]) == pytest.approx(np.exp(-0.5))
    assert float(gx[0, 0, 6]) == pytest.approx(np.exp(-0.5))
    with pytest.raises(ValueError, match="sigma_vox"):
        gaussian_factors(centre, (7, 7, 7), sigma_vox=(1.0, 2.0))


def test_prediction_reads_the_same_sigma_from_the_recipe_as_training_uses() -> None:
    recipe = TrainingRecipe.from_config({"loss": "ssce_null", "sigma_mm": 2.0})
    flat = recipe.to_dict()
    assert flat["sigma_mm"] == 2.0
    assert recipe_sigma_vox(flat, SPACING) == recipe.heatmap.sigma_per_axis(SPACING)
    # the confidence window follows sigma: +-2 sigma, at least one voxel
    assert confidence_radius("log_probability", recipe_sigma_vox(flat, SPACING)) == (2, 8, 8)
    assert confidence_radius("softmax", recipe_sigma_vox(flat, SPACING)) == (2, 2, 2)  # legacy: as validated


def test_unset_sigma_mm_is_left_out_of_the_recipe_record() -> None:
    """Recipes written before sigma_mm existed keep their fingerprint (fold checkpoints stay reusable)."""
    flat = TrainingRecipe.from_config({"sigma_vox": 2.0, "sigma_mm": None}).to_dict()
    assert "sigma_mm" not in flat
    assert recipe_sigma_vox(flat, SPACING) == (2.0, 2.0, 2.0)


def test_sigma_mm_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sigma_mm"):
        HeatmapLossConfig(sigma_mm=0.0)
