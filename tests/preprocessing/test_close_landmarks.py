"""Landmarks closer than 2 target voxels train as separate channels: label layers, exact centres, decoding.

Conversion paints such landmarks into different label layers; the workflow's preprocessing paints every
layer again on the target grid; nnU-Net's dataloader carries the layers as channels of the label map; the
trainer's training centres and a perfect model's decoded points stay within a quarter voxel of each landmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset
from nnlandmark.datasets.folder import load_folder_dataset
from nnlandmark.inference.coordinates import world_to_preprocessed
from nnlandmark.inference.landmark_predictor import predictor_for_network
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, read_landmarks, write_landmarks
from nnlandmark.preprocessing.exact_blobs import ExactBlobPreprocessor
from nnlandmark.training.targets import blob_centroids
from tests.conftest import oblique_direction, write_case
from tests.inference import perfect_model as pm
from tests.nnunet_plans import preprocessing_plans

SPACING_MM = 2.5
SHAPE = (28, 26, 24)  # ITK (i, j, k)
NAMES = ("pair_a", "pair_b", "triad_1", "triad_2", "triad_3", "apart")


def case_landmarks(geometry: ImageGeometry, rng: np.random.Generator) -> LandmarkSet:
    """A pair 0.5 voxel (1.25 mm) apart and a triad 2.3 / 2.3 / 4.3 mm apart, in a random orientation."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    centre = geometry.index_to_world(((np.asarray(SHAPE) - 1) / 2)[None])[0]
    half_base = 4.3 / 2
    height = np.sqrt(2.3**2 - half_base**2)  # triad_2 at 2.3 mm from both ends of a 4.3 mm base
    local = np.array([[-6.0, 0.0, 0.0], [-6.0 + 1.25, 0.0, 0.0],
                      [6.0 - half_base, 0.0, 0.0], [6.0, height, 0.0], [6.0 + half_base, 0.0, 0.0],
                      [0.0, 0.0, 14.0]])
    points = centre + (local + rng.uniform(-0.4, 0.4, size=3)) @ q.T
    return LandmarkSet(NAMES, points, np.ones(len(NAMES), bool))


@pytest.fixture(scope="module")
def raw_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("close")
    rng = np.random.default_rng(7)
    for n in range(6):
        geometry = ImageGeometry(size=SHAPE, spacing=(SPACING_MM,) * 3, origin=(-30.0 + n, 12.0, 5.0 - n),
                                 direction=oblique_direction(10.0 * n, (1.0, -2.0, 0.5)))
        landmarks = case_landmarks(geometry, rng)
        write_case(root / "src", f"case{n}", geometry, landmarks, seed=n)
        (root / "src" / "landmarks").mkdir(exist_ok=True)
        write_landmarks(root / "src" / "landmarks" / f"case{n}.json", landmarks)
    cases, names = load_folder_dataset(root / "src" / "images", root / "src" / "landmarks")
    return write_nnunet_raw_dataset(cases, raw_root=root / "raw", dataset_id=43, name="Close", landmark_names=names,
                                    test_cases=["case5"], channel_name="MRI", num_folds=2)


def plans(shape_numpy: tuple[int, ...], patch: tuple[int, ...]) -> PlansManager:
    return preprocessing_plans("Dataset043_Close", original_spacing=[SPACING_MM] * 3, target_spacing=[SPACING_MM] * 3,
                               shape=shape_numpy, patch=patch)


def test_close_landmarks_convert_into_separate_label_layers(raw_dataset: Path) -> None:
    dataset = json.loads((raw_dataset / "dataset.json").read_text())
    layer = dict(zip(dataset["landmarks"], dataset["blob_layers"]))
    assert layer["pair_a"] != layer["pair_b"]
    # 2.3, 2.3 and 4.3 mm at 2.5 mm: all three closer than 2 voxels, so three layers
    assert len({layer["triad_1"], layer["triad_2"], layer["triad_3"]}) == 3
    assert layer["apart"] == 0 and max(layer.values()) == 2


def test_close_landmarks_keep_exact_training_centres_and_decode_within_a_quarter_voxel(
    raw_dataset: Path, tmp_path: Path
) -> None:
    shape_numpy = SHAPE[::-1]
    manager = plans(shape_numpy, patch=shape_numpy)
    configuration = manager.get_configuration("3d_fullres")
    dataset_json = str(raw_dataset / "dataset.json")
    label_manager = manager.get_label_manager(json.loads((raw_dataset / "dataset.json").read_text()))
    preprocessed = tmp_path / "preprocessed"
    preprocessed.mkdir()
    truths = {}
    for n in range(5):
        data, seg, properties = ExactBlobPreprocessor(verbose=False).run_case(
            [str(raw_dataset / "imagesTr" / f"case{n}_0000.nii.gz")], str(raw_dataset / "labelsTr" / f"case{n}.nii.gz"),
            manager, configuration, dataset_json)
        assert seg.shape[0] == 3  # one channel per label layer
        landmarks = read_landmarks(raw_dataset / "landmarksTr" / f"case{n}.json")
        truth = world_to_preprocessed(landmarks.points, preprocessed_shape=data.shape[1:], properties=properties,
                                      transpose_forward=(0, 1, 2))
        truths[f"case{n}"] = (truth, data.shape[1:], properties, landmarks)
        nnUNetDatasetBlosc2.save_case(data, seg, properties, str(preprocessed / f"case{n}"))

    # the training centres as the trainer sees them: nnU-Net's dataloader, whole-image patches
    loader = nnUNetDataLoader(nnUNetDatasetBlosc2(str(preprocessed)), 1, shape_numpy, shape_numpy, label_manager)
    worst = 0.0
    for _ in range(10):
        batch = next(loader)
        target = torch.as_tensor(batch["target"])
        assert target.shape[1] == 3
        centroids = blob_centroids(target, len(NAMES))
        assert bool(centroids.reliable.all())
        truth = truths[batch["keys"][0]][0]
        worst = max(worst, float(np.abs(centroids.centres[0].numpy() - truth).max()))
    assert worst <= 0.25, worst

    # a perfect model of those centres decodes every landmark, pair and triad included, to its own point
    for key, (truth, shape, properties, landmarks) in truths.items():
        sigma = (0.8,) * 3  # sigma_mm 2.0 at 2.5 mm
        network = pm.null_network(truth, sigma=sigma)
        manager_windows = pm.plans(patch=(16, 16, 16))
        predictor = predictor_for_network(network, manager_windows, manager_windows.get_configuration("3d_fullres"),
                                          pm.dataset_json(NAMES), names=NAMES, activation="log_probability",
                                          device=torch.device("cpu"), sigma_vox=sigma)
        predicted = predictor.predict_preprocessed(pm.coordinate_image(shape), properties)
        errors_vox = np.linalg.norm(predicted.points - landmarks.points, axis=1) / SPACING_MM
        assert errors_vox.max() <= 0.25, (key, dict(zip(NAMES, errors_vox.round(3))))
        assert predicted.present.all()
