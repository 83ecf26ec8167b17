"""MML release (NRRD, *_label.npy voxel indices, *_spacing.npy) -> own-data folder; complete cases; split."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.mml import LANDMARK_NAMES, prepare_mml
from nnlandmark.datasets.sources import load_source_dataset
from nnlandmark.datasets.splits import PaperSplit
from nnlandmark.landmarks import ImageGeometry, read_landmarks
from tests.datasets.builders import MML_ORIGIN, MML_SPACING, mml_indices, write_mml_release

REPO = Path(__file__).resolve().parents[2]
CASES = {"0001": ("train", True), "0002": ("train", False), "0003": ("val", True), "0004": ("train", True),
         "0005": ("test", True), "0006": ("test", False), "85_new": ("val", True)}


def write_split(path: Path, train: list[str], test: list[str]) -> Path:
    path.write_text(json.dumps({"imagesTr": sorted(train), "imagesTs": sorted(test), "all": sorted(train + test)}))
    return path


def shear(volume: Path) -> None:
    """Rewrite the NRRD volume with axes i and j at 78.7 degrees (NRRD keeps it; NIfTI would straighten it)."""
    image = sitk.ReadImage(str(volume))
    direction = np.eye(3)
    direction[:, 1] = [0.2, 1.0, 0.0]
    direction[:, 1] /= np.linalg.norm(direction[:, 1])
    image.SetDirection(direction.ravel().tolist())
    sitk.WriteImage(image, str(volume))


def test_all_cases_with_the_authors_split(tmp_path: Path) -> None:
    release = write_mml_release(tmp_path / "raw", CASES)
    manifest = json.loads(prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=False).read_text())
    assert manifest["landmarks"] == list(LANDMARK_NAMES)
    assert manifest["test_cases"] == ["0005", "0006"]
    assert manifest["training_cases"] == ["0001", "0002", "0003", "0004", "85_new"]
    assert manifest["cases"]["0003"]["authors_split"] == "val"
    # the spacing file replaces the header spacing; origin and direction are kept
    header = ImageGeometry.from_file(release / "train" / "0002_volume.nrrd")
    image = ImageGeometry.from_file(tmp_path / "source" / "images" / "0002.nii.gz")
    assert np.allclose(image.spacing, MML_SPACING) and np.allclose(image.origin, MML_ORIGIN)
    assert np.allclose(image.direction, header.direction) and image.size == header.size
    # (i, j, k) indices -> LPS mm through the corrected grid; negative rows are absent
    landmarks = read_landmarks(tmp_path / "source" / "landmarks" / "0002.json")
    seed = sorted(CASES).index("0002")
    expected = image.index_to_world(mml_indices(seed, complete=False))
    assert list(landmarks.present) == [n not in (3, 10) for n in range(14)]
    assert np.allclose(landmarks.points[landmarks.present], expected[landmarks.present], atol=1e-4)
    source = load_source_dataset({"format": "mml"}, source_root=tmp_path / "source")
    assert len(source.cases) == 7 and source.test_cases == ("0005", "0006")


def test_complete_cases_follow_the_published_split(tmp_path: Path) -> None:
    write_mml_release(tmp_path / "raw", CASES)
    split = PaperSplit.from_file(write_split(tmp_path / "split.json", ["0001", "0004", "0005", "85_new"], ["0003"]))
    manifest = json.loads(prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=True, split=split)
                          .read_text())
    assert manifest["training_cases"] == ["0001", "0004", "0005", "85_new"]
    assert manifest["test_cases"] == ["0003"]
    assert sorted(p.name for p in (tmp_path / "source" / "images").iterdir()) == [
        "0001.nii.gz", "0003.nii.gz", "0004.nii.gz", "0005.nii.gz", "85_new.nii.gz"]


def test_complete_cases_differing_from_the_split_are_named(tmp_path: Path) -> None:
    write_mml_release(tmp_path / "raw", CASES)
    split = PaperSplit.from_file(write_split(tmp_path / "split.json", ["0001", "0002", "0004"], ["0003"]))
    with pytest.raises(DatasetError, match=r"complete MML cases do not match the published split .*split.json: "
                                           r"1 split cases missing from the data \(0002\); 2 cases not in the "
                                           r"split \(0005, 85_new\)"):
        prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=True, split=split)
    assert not (tmp_path / "source").exists()


def test_published_complete_case_list_is_reproduced_case_for_case(tmp_path: Path) -> None:
    split_file = REPO / "config" / "splits" / "split_Dataset735_MML_comp.json"
    published = json.loads(split_file.read_text())
    folders = ["train", "val", "test"]
    cases = {c: (folders[n % 3], True) for n, c in enumerate(published["all"])}
    cases |= {"9998": ("train", False), "9999": ("test", False)}  # incomplete cases the paper left out
    write_mml_release(tmp_path / "raw", cases)
    path = prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=True,
                       split=PaperSplit.from_file(split_file))
    manifest = json.loads(path.read_text())
    assert manifest["training_cases"] == published["imagesTr"] and len(published["imagesTr"]) == 283
    assert manifest["test_cases"] == published["imagesTs"] and len(published["imagesTs"]) == 60


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: np.save(d / "0004_label.npy", np.where(np.arange(42).reshape(14, 3) == 7, np.nan, 1.0)),
         r"0004_label.npy: NaN or infinite coordinate in row 3 \(Lb\)"),
        (lambda d: np.save(d / "0004_spacing.npy", np.array([0.4, 0.0, 0.3])),
         r"0004_spacing.npy: zero or negative spacing \[0.4, 0.0, 0.3\]"),
        (lambda d: np.save(d / "0004_spacing.npy", np.array([0.4, -0.5, 0.3])),
         r"0004_spacing.npy: zero or negative spacing"),
        (lambda d: np.save(d / "0004_label.npy", np.ones((13, 3))),
         r"0004_label.npy: expected 14x3 voxel indices, got shape \(13, 3\)"),
        (lambda d: (d / "0004_spacing.npy").unlink(), r"0004_volume.nrrd: missing spacing file 0004_spacing.npy"),
        (lambda d: (d / "0004_volume.nrrd").unlink(), r"0004_label.npy: landmark file without image"),
        (lambda d: (d / "0004_volume.nrrd").write_bytes(b"NRRD0004\ngarbage"), r"0004_volume.nrrd: unreadable image"),
        (lambda d: shear(d / "0004_volume.nrrd"),
         r"0004_volume.nrrd: sheared \(non-orthogonal\) image axes \(direction .*axes i and j meet at 78.69 degrees"),
        (lambda d: np.save(d / "0004_label.npy", np.full((14, 3), 50.0)),
         r"0004_label.npy: landmarks L0, La, .* lie outside the image"),
    ],
)
def test_bad_release_files_are_named(tmp_path: Path, damage: Callable[[Path], object], message: str) -> None:
    release = write_mml_release(tmp_path / "raw", CASES)
    damage(release / "train")
    with pytest.raises(DatasetError if "outside" not in message else ValueError, match=message):
        prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=False)
    assert not (tmp_path / "source").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_folder_without_the_release_layout_is_named(tmp_path: Path) -> None:
    (tmp_path / "raw" / "something").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no folder with train/, val/ and test/ inside"):
        prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=False)


def test_rewritten_volume_keeps_its_voxels(tmp_path: Path) -> None:
    release = write_mml_release(tmp_path / "raw", {"0001": ("train", True), "0002": ("test", True)})
    prepare_mml(tmp_path / "raw", tmp_path / "source", complete_only=False)
    before = sitk.GetArrayFromImage(sitk.ReadImage(str(release / "train" / "0001_volume.nrrd")))
    after = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "source" / "images" / "0001.nii.gz")))
    assert np.array_equal(before, after)
