"""nnU-Net's preprocessing with training blobs painted on the target grid from the exact landmarks.

Conversion paints each landmark's blob on the image's own grid, centred to a quarter voxel. nnU-Net's
preprocessing then resamples that label map to the target spacing, which draws every blob again on a new
grid: its centroid, the training target, moves by up to ~0.6 target voxel (mean 0.17-0.26). Here, after
nnU-Net's own transpose, crop and resampling, the label map of a training case is replaced by blobs painted
directly on the preprocessed grid around each landmark's exact position there (``landmarksTr/<case>.json``
mapped through the same transform), with the same shape and centring rules as conversion and into the same
label layers (``blob_layers`` in dataset.json: landmarks closer than 2 target voxels lie in different layers, so
the preprocessed label map has one channel per layer). Images are preprocessed exactly as nnU-Net does
(prediction keeps using nnU-Net's ``DefaultPreprocessor``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from batchgenerators.utilities.file_and_folder_operations import load_json
from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor

from nnlandmark.dataset_conversion.blobs import BlobShape, paint_layered_blobs
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.inference.coordinates import world_to_preprocessed
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, read_landmarks

log = logging.getLogger(__name__)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def blobs_on_preprocessed_grid(
    landmarks: LandmarkSet,
    *,
    preprocessed_shape: Sequence[int],
    spacing: Sequence[float],
    properties: Mapping[str, Any],
    transpose_forward: Sequence[int],
    radius_vox: float,
    layers: Sequence[int] | None = None,
    case_id: str,
) -> np.ndarray:
    """(L, *preprocessed shape) label layers with a blob per present landmark at its exact preprocessed position.

    ``spacing`` is the configuration's target spacing in the same (transposed numpy) order as the array;
    ``layers`` the label layer of each landmark (all in one layer when None).
    """
    present = landmarks.present
    points = np.where(present[:, None], landmarks.points, 0.0)
    positions = world_to_preprocessed(points, preprocessed_shape=preprocessed_shape, properties=properties,
                                      transpose_forward=transpose_forward)
    itk_spacing = tuple(float(s) for s in reversed(tuple(spacing)))
    grid = ImageGeometry(size=tuple(int(s) for s in reversed(tuple(preprocessed_shape))), spacing=itk_spacing,
                         origin=(0.0, 0.0, 0.0), direction=IDENTITY)
    on_grid = LandmarkSet(landmarks.names, np.where(present[:, None], grid.index_to_world(positions[:, ::-1]), np.nan),
                          present)
    return paint_layered_blobs(grid, on_grid, shape=BlobShape(radius_vox=radius_vox, target_spacing=itk_spacing),
                               layers=[0] * len(landmarks) if layers is None else layers, case_id=case_id)


class ExactBlobPreprocessor(DefaultPreprocessor):
    """nnU-Net's ``DefaultPreprocessor``; a training case's blobs are then painted again on the target grid."""

    def run_case(self, image_files: list[str], seg_file: str | None, plans_manager: Any,
                 configuration_manager: Any, dataset_json: dict | str) -> tuple[np.ndarray, np.ndarray, dict]:
        data, seg, properties = super().run_case(image_files, seg_file, plans_manager, configuration_manager,
                                                 dataset_json)
        if seg_file is None:
            return data, seg, properties
        dataset_json = load_json(dataset_json) if isinstance(dataset_json, str) else dataset_json
        case_id = Path(seg_file).name[: -len(dataset_json["file_ending"])]
        reference = Path(seg_file).parent.parent / "landmarksTr" / f"{case_id}.json"
        if "landmarks" not in dataset_json or not reference.is_file():
            return data, seg, properties  # not converted by nnLandmark: nnU-Net's resampled labels
        layers = dataset_json.get("blob_layers")
        try:
            repainted = blobs_on_preprocessed_grid(
                read_landmarks(reference).reorder(dataset_json["landmarks"]),
                preprocessed_shape=data.shape[1:], spacing=configuration_manager.spacing, properties=properties,
                transpose_forward=plans_manager.transpose_forward,
                radius_vox=float(dataset_json.get("blob_radius_vox", 2.0)), layers=layers,
                case_id=case_id).astype(np.int16)
        except DatasetError as error:  # e.g. a target grid coarser than conversion assumed
            n_layers = max(layers or [0]) + 1
            log.warning("%s: keeping nnU-Net's resampled blobs of the first of %d label layers (%s)", case_id,
                        n_layers, error)
            # every case needs the same number of layers (nnU-Net's dataloader reads it from the first case)
            padding = np.where(seg < 0, seg, 0).repeat(n_layers - 1, axis=0)
            return data, np.concatenate([seg, padding.astype(seg.dtype)]), properties
        repainted[(seg < 0) & (repainted == 0)] = -1  # nnU-Net's outside-the-mask marker, where there is one
        label_manager = plans_manager.get_label_manager(dataset_json)
        properties["class_locations"] = self._sample_foreground_locations(
            repainted, label_manager.foreground_labels, verbose=self.verbose)
        return data, repainted.astype(np.int8 if repainted.max() <= 127 else np.int16), properties
