"""nnU-Net plans with just what its preprocessor and predictor read, for tests that run them on small images."""

from __future__ import annotations

from collections.abc import Sequence

from nnunetv2.utilities.plans_handling.plans_handler import PlansManager


def preprocessing_plans(dataset_name: str, *, original_spacing: Sequence[float], target_spacing: Sequence[float],
                        shape: Sequence[int], patch: Sequence[int], batch_size: int = 1) -> PlansManager:
    """A 3d_fullres configuration; spacings and shapes in numpy axis order (z, y, x), no transpose."""
    resample = "resample_data_or_seg_to_shape"
    return PlansManager({
        "dataset_name": dataset_name, "plans_name": "nnUNetPlans", "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "label_manager": "LabelManager",
        "original_median_spacing_after_transp": list(original_spacing),
        "original_median_shape_after_transp": list(shape),
        "foreground_intensity_properties_per_channel": {"0": {"mean": 0.0, "std": 1.0, "percentile_00_5": -1.0,
                                                              "percentile_99_5": 1.0}},
        "configurations": {"3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor",
            "batch_size": batch_size, "patch_size": list(patch), "median_image_size_in_voxels": list(shape),
            "spacing": list(target_spacing), "normalization_schemes": ["ZScoreNormalization"],
            "use_mask_for_norm": [False], "resampling_fn_data": resample, "resampling_fn_seg": resample,
            "resampling_fn_probabilities": resample,
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0,
                                                   "force_separate_z": None},
            "architecture": {}}},
    })
