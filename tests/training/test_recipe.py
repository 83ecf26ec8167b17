"""Training recipe from the config, and the per-epoch patch error that drives checkpoint_best."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlandmark.training.recipe import TrainingRecipe
from nnlandmark.training.trainer import patch_errors_mm


def test_recipe_reads_the_train_section_and_ignores_workflow_keys() -> None:
    recipe = TrainingRecipe.from_config({"epochs": 7, "iterations_per_epoch": 3, "optimizer": "adam",
                                         "learning_rate": 1e-3, "loss": "mse", "sigma_vox": 3.0, "folds": [0, 1],
                                         "device": "cpu", "threads": 2, "augmentation": False, "data_workers": None})
    assert (recipe.epochs, recipe.iterations_per_epoch, recipe.optimizer, recipe.augmentation) == (7, 3, "adam", False)
    assert recipe.heatmap.loss == "mse" and recipe.heatmap.sigma_vox == 3.0
    assert recipe.heatmap.activation == "sigmoid"
    assert recipe.to_dict()["sigma_vox"] == 3.0


@pytest.mark.parametrize(("train", "message"), [({"epochs": 0}, "train.epochs"),
                                                ({"optimizer": "rmsprop"}, "train.optimizer"),
                                                ({"topk_percent": 0}, "train.topk_percent")])
def test_bad_recipe_values_name_the_key(train: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingRecipe.from_config(train)


def test_patch_errors_in_mm_use_the_spacing_and_skip_cut_blobs() -> None:
    labels = torch.zeros(1, 1, 12, 12, 12)
    labels[0, 0, 4:7, 4:7, 4:7] = 1  # centroid (5, 5, 5)
    labels[0, 0, 0:2, 8:11, 8:11] = 2  # cut by the patch border: not counted
    output = torch.zeros(1, 3, 12, 12, 12)
    output[0, 1, 7, 5, 5] = 10.0  # argmax 2 voxels off along axis 0
    output[0, 2, 0, 9, 9] = 10.0
    error_sum, seen = patch_errors_mm(output, labels, 2, [3.0, 1.0, 1.0])
    np.testing.assert_allclose(error_sum, [6.0, 0.0])
    np.testing.assert_array_equal(seen, [1, 0])
