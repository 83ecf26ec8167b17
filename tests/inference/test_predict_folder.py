"""Writing predictions into a folder: nothing there is removed, and an interrupted run leaves whole cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlandmark.errors import InputError
from nnlandmark.inference.predict_folder import check_output_folder, predict_images
from nnlandmark.landmarks import LandmarkSet, read_landmarks


class FakePredictor:
    """Stands in for a loaded model: one landmark per image, at a position derived from the file name."""

    def __init__(self, *, fail_on: str | None = None, error: type[BaseException] = KeyboardInterrupt) -> None:
        self.fail_on, self.error, self.seen = fail_on, error, []

    def predict_image(self, image_file: Path) -> LandmarkSet:
        self.seen.append(image_file.name)
        if self.fail_on and image_file.name.startswith(self.fail_on):
            raise self.error()
        x = float(len(self.seen))
        return LandmarkSet(("nasion",), np.array([[x, 2.0, 3.0]]), np.array([True]), np.array([0.9]))


def image_files(folder: Path, cases: list[str]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {case: folder / f"{case}.nii.gz" for case in cases}
    for path in files.values():
        path.write_bytes(b"not read by the fake predictor")
    return files


def test_existing_files_of_the_output_folder_survive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "a.json").write_text("an old prediction of case a")
    results = predict_images(FakePredictor(), image_files(tmp_path / "images", ["a", "b"]), out)
    assert sorted(results) == ["a", "b"]
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [
        "a.json", "a.mrk.json", "b.json", "b.mrk.json", "notes.txt"]
    assert read_landmarks(out / "a.json").allclose(read_landmarks(out / "a.mrk.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "out"]  # no out.partial beside it


def test_a_missing_output_folder_is_created(tmp_path: Path) -> None:
    predict_images(FakePredictor(), image_files(tmp_path / "images", ["a"]), tmp_path / "new" / "out")
    assert (tmp_path / "new" / "out" / "a.json").is_file()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_run_leaves_whole_cases_only(tmp_path: Path, error: type[BaseException]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(error):
        images = image_files(tmp_path / "images", ["a", "b", "c"])
        predict_images(FakePredictor(fail_on="b", error=error), images, out)
    # case a whole, nothing of case b, no temporary files
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.mrk.json", "notes.txt"]
    assert read_landmarks(out / "a.json").names == ("nasion",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "out"]


def test_output_inside_or_equal_to_the_images_is_refused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    with pytest.raises(InputError, match="is the image folder"):
        check_output_folder(images, images_dir=images)
    with pytest.raises(InputError, match="is the image folder"):
        check_output_folder(tmp_path / "images" / ".." / "images", images_dir=images)
    with pytest.raises(InputError, match="is inside the image folder"):
        check_output_folder(images / "predictions", images_dir=images)
    (tmp_path / "link").symlink_to(images)
    with pytest.raises(InputError, match="is the image folder"):
        check_output_folder(tmp_path / "link", images_dir=images)
    check_output_folder(tmp_path / "images-predictions", images_dir=images)  # a sibling with a similar name
    check_output_folder(tmp_path, images_dir=images)  # the images inside the output folder are fine too


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with pytest.raises(InputError, match="is an existing file, not a folder"):
        check_output_folder(tmp_path / "out", images_dir=tmp_path / "images")
    with pytest.raises(InputError, match="cannot create output folder"):
        predict_images(FakePredictor(), image_files(tmp_path / "images", ["a"]), tmp_path / "out")
    assert (tmp_path / "out").read_text() == "a file"
