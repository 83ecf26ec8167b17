"""The Python API: ``nnlandmark.load`` a folder or an exported .zip, ``model.predict`` a path or an in-memory
SimpleITK image (the same landmarks either way), a ``LandmarkSet`` as a table and in every file format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import nnlandmark
from nnlandmark.errors import InputError
from nnlandmark.inference.model_archive import CACHE_VARIABLE, export_model
from nnlandmark.landmarks import LandmarkSet, read_landmarks
from tests.conftest import oblique_direction
from tests.inference.tiny_model import LANDMARKS, make_model_folder, write_image


@pytest.fixture(autouse=True)
def _runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in {"nnUNet_compile": "false", "nnUNet_n_proc_DA": "0", "nnUNet_def_n_proc": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model_folder(tmp_path / "model")


def same(a: LandmarkSet, b: LandmarkSet) -> bool:
    return (a.names == b.names and np.array_equal(a.points, b.points, equal_nan=True)
            and np.array_equal(a.present, b.present) and np.array_equal(a.confidence, b.confidence))


def test_import_nnlandmark_does_not_import_torch() -> None:
    code = "import sys, nnlandmark; print(sorted(m for m in ('torch', 'nnunetv2', 'numpy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_an_in_memory_image_gives_the_landmarks_of_its_file(tmp_path: Path, model_dir: Path) -> None:
    model = nnlandmark.load(model_dir, device="cpu")
    assert model.names == LANDMARKS and model.folds == (0, 1)
    # oblique and anisotropic, unlike the plans' spacing: resampled and mapped back through the direction
    path = write_image(tmp_path / "oblique.nii.gz", size=(14, 12, 8), spacing=(0.9, 1.3, 2.5),
                       direction=oblique_direction())
    from_file = model.predict(path)
    assert from_file.present.all()
    assert same(model.predict(str(path)), from_file)
    assert same(model.predict(sitk.ReadImage(str(path))), from_file)
    # a format that keeps the geometry exactly: the image never written gives its file's landmarks too
    image = sitk.ReadImage(str(path))
    image.SetDirection(oblique_direction(angle_deg=31.0))
    sitk.WriteImage(image, str(tmp_path / "exact.mha"))
    assert same(model.predict(image), model.predict(tmp_path / "exact.mha"))
    assert not same(model.predict(image), from_file)


def test_a_zip_loads_like_its_folder(tmp_path: Path, model_dir: Path) -> None:
    export_model(model_dir, tmp_path / "model.zip", folds=[1])
    path = write_image(tmp_path / "case.nii.gz")
    zipped = nnlandmark.load(tmp_path / "model.zip", device="cpu")
    assert zipped.folds == (1,) and zipped.checkpoint == "checkpoint_final.pth"
    assert zipped.card()["folds"][0]["validation"]["mre_mm"] == 2.5
    assert same(zipped.predict(path), nnlandmark.load(model_dir, folds=[1], device="cpu").predict(path))


def test_bad_images_and_options_are_refused(tmp_path: Path, model_dir: Path) -> None:
    model = nnlandmark.load(model_dir, folds=[0], device="cpu")
    with pytest.raises(InputError, match="a 2-D image"):
        model.predict(sitk.Image([8, 8], sitk.sitkFloat32))
    with pytest.raises(InputError, match="3 values per voxel"):
        model.predict(sitk.Image([8, 8, 8], sitk.sitkVectorFloat32, 3))
    with pytest.raises(InputError, match="takes 1 image"):
        model.predict([sitk.Image([8, 8, 8], sitk.sitkFloat32)] * 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.predict(tmp_path / "missing.nii.gz")
    with pytest.raises(InputError, match="device must be one of auto, cpu, cuda"):
        nnlandmark.load(model_dir, device="gpu")
    with pytest.raises(FileNotFoundError, match="model folder .* does not exist"):
        nnlandmark.load(tmp_path / "nowhere")


def test_a_landmark_set_as_a_table_and_in_every_format(tmp_path: Path) -> None:
    landmarks = LandmarkSet(("AC", "PC", "LE"), np.array([[1.0, -2.0, 3.5], [0.0, 0.0, 0.0], [np.nan] * 3]),
                            np.array([True, True, False]), np.array([0.9, 0.8, 0.1]))
    table = landmarks.to_dataframe()
    assert list(table.columns) == ["name", "x", "y", "z", "present", "confidence"]
    assert table["name"].tolist() == ["AC", "PC", "LE"]
    assert table.loc[0, ["x", "y", "z"]].tolist() == [1.0, -2.0, 3.5]
    assert table["present"].tolist() == [True, True, False] and np.isnan(table.loc[2, "x"])
    assert table["confidence"].tolist() == [0.9, 0.8, 0.1]
    assert pd.isna(LandmarkSet(("AC",), np.zeros((1, 3)), [True]).to_dataframe().loc[0, "confidence"])
    for name in ("points.mrk.json", "points.fcsv", "points.json", "points.csv"):
        landmarks.write(tmp_path / name)
        # .fcsv has no absent landmarks: they are left out, and come back absent by name
        assert read_landmarks(tmp_path / name).reorder(landmarks.names).allclose(landmarks), name
    with pytest.raises(InputError, match="unknown landmark file type"):
        landmarks.write(tmp_path / "points.txt")
