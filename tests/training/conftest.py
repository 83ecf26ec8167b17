"""A tiny 3d_fullres plan and dataset.json: enough to build nnLandmarkTrainer without planning or preprocessing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

LANDMARKS = ("nasion", "sella")

PLANS: dict[str, Any] = {
    "dataset_name": "Dataset999_Tiny",
    "plans_name": "nnUNetPlans",
    "original_median_spacing_after_transp": [2.0, 1.0, 1.0],
    "original_median_shape_after_transp": [64, 64, 64],
    "image_reader_writer": "SimpleITKIO",
    "transpose_forward": [0, 1, 2],
    "transpose_backward": [0, 1, 2],
    "configurations": {
        "3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres",
            "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 1,
            "patch_size": [8, 8, 8],
            "median_image_size_in_voxels": [64, 64, 64],
            "spacing": [2.0, 1.0, 1.0],
            "normalization_schemes": ["ZScoreNormalization"],
            "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0,
                                                   "force_separate_z": None},
            "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {
                    "n_stages": 2, "features_per_stage": [4, 8], "conv_op": "torch.nn.modules.conv.Conv3d",
                    "kernel_sizes": [[3, 3, 3], [3, 3, 3]], "strides": [[1, 1, 1], [2, 2, 2]],
                    "n_conv_per_stage": [1, 1], "n_conv_per_stage_decoder": [1], "conv_bias": True,
                    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                    "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                    "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
                },
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
            },
            "batch_dice": False,
        }
    },
    "experiment_planner_used": "ExperimentPlanner",
    "label_manager": "LabelManager",
    "foreground_intensity_properties_per_channel": {},
}

DATASET_JSON: dict[str, Any] = {
    "channel_names": {"0": "image"},
    "labels": {"background": 0, **{name: i + 1 for i, name in enumerate(LANDMARKS)}},
    "numTraining": 2,
    "file_ending": ".nii.gz",
    "landmarks": list(LANDMARKS),
}


@pytest.fixture
def make_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``make_trainer(batch_size=1)``: an nnLandmarkTrainer on CPU whose nnU-Net folders are under ``tmp_path``."""
    for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(variable, str(tmp_path / variable))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv("nnUNet_compile", "false")

    def make(*, batch_size: int = 1) -> Any:
        from nnlandmark.training.trainer import nnLandmarkTrainer

        plans = copy.deepcopy(PLANS)
        plans["configurations"]["3d_fullres"]["batch_size"] = batch_size
        plans["continue_training"] = False  # nnU-Net 2.8.1 pops this key
        return nnLandmarkTrainer(plans, "3d_fullres", 0, copy.deepcopy(DATASET_JSON), torch.device("cpu"))

    return make
