"""Folder dataset -> nnU-Net raw dataset: layout, labels, exact landmarks, splits, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.folder import load_folder_dataset
from nnlandmark.landmarks import ImageGeometry, LandmarkError, LandmarkSet, read_landmarks, write_landmarks
from tests.conftest import write_case

NAMES = ("nasion", "sella", "left_eye", "right_eye")


def make_folder_dataset(root: Path, geometry: ImageGeometry, n_cases: int = 7) -> None:
    rng = np.random.default_rng(3)
    for n in range(n_cases):
        index = np.array([[6, 6, 4], [21, 6, 5], [6, 19, 12], [21, 19, 12]]) + rng.uniform(-1, 1, size=(4, 3))
        present = np.array([True, True, True, n != 2])
        landmarks = LandmarkSet(NAMES, geometry.index_to_world(index), present)
        write_case(root, f"case{n}", geometry, landmarks, seed=n)
        (root / "landmarks").mkdir(exist_ok=True)
        write_landmarks(root / "landmarks" / f"case{n}.json", landmarks)
        (root / "rater2").mkdir(exist_ok=True)
        write_landmarks(root / "rater2" / f"case{n}.mrk.json", landmarks)


def test_conversion_writes_nnunet_layout(tmp_path: Path, oblique_geometry: ImageGeometry) -> None:
    make_folder_dataset(tmp_path / "src", oblique_geometry)
    cases, names = load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks",
                                       raters={"rater2": tmp_path / "src" / "rater2"})
    assert names == NAMES
    out = write_nnunet_raw_dataset(cases, raw_root=tmp_path / "raw", dataset_id=42, name="Toy", landmark_names=names,
                                   test_cases=["case5", "case6"], channel_name="MRI", blob_radius_vox=2.0)
    assert out == tmp_path / "raw" / "Dataset042_Toy"
    assert not (tmp_path / "raw" / "Dataset042_Toy.partial").exists()
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "nasion": 1, "sella": 2, "left_eye": 3, "right_eye": 4}
    assert dataset["numTraining"] == 5 and dataset["channel_names"] == {"0": "MRI"}
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [f"case{n}_0000.nii.gz" for n in range(5)]
    assert sorted(p.name for p in (out / "imagesTs").iterdir()) == ["case5_0000.nii.gz", "case6_0000.nii.gz"]
    assert sorted(p.name for p in (out / "landmarksTs").iterdir()) == ["case5.json", "case6.json"]
    assert len(list((out / "raters" / "rater2").iterdir())) == 7
    splits = json.loads((out / "splits_final.json").read_text())
    assert len(splits) == 5
    assert sorted(v for s in splits for v in s["val"]) == [f"case{n}" for n in range(5)]
    # the label map carries one blob per present landmark at the exact landmark position
    labels = sitk.ReadImage(str(out / "labelsTr" / "case2.nii.gz"))
    assert ImageGeometry.from_image(labels) == ImageGeometry.from_file(out / "imagesTr" / "case2_0000.nii.gz")
    array = sitk.GetArrayFromImage(labels)
    assert set(np.unique(array)) == {0, 1, 2, 3}  # right_eye absent in case2
    exact = read_landmarks(out / "landmarksTr" / "case2.json")
    k, j, i = np.nonzero(array == 2)
    centroid = oblique_geometry.index_to_world(np.array([[i.mean(), j.mean(), k.mean()]]))[0]
    assert np.linalg.norm(centroid - exact.point("sella")) < 1.0
    assert dataset["blob_radius_vox"] == 2.0
    assert dataset["blob_layers"] == [0, 0, 0, 0]  # no landmarks within 2 voxels: one label layer
    assert dataset["blob_target_spacing_mm"] == pytest.approx(list(oblique_geometry.spacing))
    assert dataset["blob_semi_axes_mm"] == pytest.approx([2 * s for s in oblique_geometry.spacing])


def test_landmarks_too_close_to_paint_apart_go_into_label_layers_of_their_own(
    tmp_path: Path, oblique_geometry: ImageGeometry
) -> None:
    make_folder_dataset(tmp_path / "src", oblique_geometry)
    close = read_landmarks(tmp_path / "src" / "landmarks" / "case3.json")
    index = oblique_geometry.world_to_index(close.points)
    index[1] = index[0] + np.array([1.0, 0.0, 0.5])  # sella 0.9 mm in-plane and 1.25 mm through-plane from nasion
    write_landmarks(tmp_path / "src" / "landmarks" / "case3.json",
                    LandmarkSet(NAMES, oblique_geometry.index_to_world(index), close.present))
    cases, names = load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks")
    out = write_nnunet_raw_dataset(cases, raw_root=tmp_path / "raw", dataset_id=42, name="Toy", landmark_names=names,
                                   test_cases=["case5", "case6"], channel_name="MRI")
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["blob_layers"] == [0, 1, 0, 0]  # sella comes within 2 voxels of nasion in case3
    # nnU-Net's raw label map holds the first layer; the workflow's preprocessing paints every layer
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "case3.nii.gz")))
    assert set(np.unique(array)) == {0, 1, 3, 4}
    k, j, i = np.nonzero(array == 1)
    centroid = oblique_geometry.index_to_world(np.array([[i.mean(), j.mean(), k.mean()]]))[0]
    assert np.linalg.norm(centroid - read_landmarks(out / "landmarksTr" / "case3.json").point("nasion")) < 0.5
    # held out, the case paints nothing, so every landmark shares one layer
    again = write_nnunet_raw_dataset(cases, raw_root=tmp_path / "raw2", dataset_id=42, name="Toy",
                                     landmark_names=names, test_cases=["case3", "case6"], channel_name="MRI")
    assert json.loads((again / "dataset.json").read_text())["blob_layers"] == [0, 0, 0, 0]


def test_unknown_test_case_is_named(tmp_path: Path, oblique_geometry: ImageGeometry) -> None:
    make_folder_dataset(tmp_path / "src", oblique_geometry)
    cases, names = load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks")
    with pytest.raises(DatasetError, match=r"test_cases entries nope do not exist in the dataset \(7 cases"):
        write_nnunet_raw_dataset(cases, raw_root=tmp_path / "raw", dataset_id=42, name="Toy", landmark_names=names,
                                 test_cases=["nope"], channel_name="CT")
    assert not (tmp_path / "raw" / "Dataset042_Toy").exists()


def test_missing_image_and_outside_landmark_are_reported(tmp_path: Path, oblique_geometry: ImageGeometry) -> None:
    make_folder_dataset(tmp_path / "src", oblique_geometry, n_cases=3)
    (tmp_path / "src" / "images" / "case1.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="landmark file without image: case1.json"):
        load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks")
    outside = LandmarkSet(NAMES, oblique_geometry.index_to_world(np.array([[5, 5, 5], [5, 5, 5], [5, 5, 5],
                                                                          [80, 5, 5]])), np.ones(4, bool))
    write_case(tmp_path / "src", "case1", oblique_geometry, outside)
    write_landmarks(tmp_path / "src" / "landmarks" / "case1.json", outside)
    with pytest.raises(LandmarkError, match=r"case1.json: landmarks right_eye lie outside the image"):
        load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks")


def test_landmark_names_may_list_a_subset_and_the_others_are_ignored_once(
    tmp_path: Path, oblique_geometry: ImageGeometry, caplog: pytest.LogCaptureFixture
) -> None:
    make_folder_dataset(tmp_path / "src", oblique_geometry)
    with caplog.at_level("WARNING"):
        cases, names = load_folder_dataset(tmp_path / "src" / "images", tmp_path / "src" / "landmarks",
                                           raters={"rater2": tmp_path / "src" / "rater2"},
                                           landmark_names=["sella", "nasion"])
    assert names == ("sella", "nasion")
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 1 and "left_eye, right_eye" in ignored[0], ignored
    assert all(c.landmarks.names == names and c.raters["rater2"].names == names for c in cases)
    out = write_nnunet_raw_dataset(cases, raw_root=tmp_path / "raw", dataset_id=42, name="Toy", landmark_names=names,
                                   test_cases=["case5", "case6"], channel_name="MRI")
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "sella": 1, "nasion": 2}
    assert read_landmarks(out / "landmarksTr" / "case0.json").names == names
    assert set(np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "case0.nii.gz"))))) == {0, 1, 2}
