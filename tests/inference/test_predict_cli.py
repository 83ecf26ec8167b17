"""``nnlandmark predict``: bad paths, options, images and checkpoints stop it with one line and exit code 2,
before anything is written; it never removes what it did not write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from nnlandmark import cli
from nnlandmark.landmarks import LandmarkSet


@pytest.fixture(autouse=True)
def _runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI sets nnU-Net's environment and torch's thread count; give both back after each test."""
    for key, value in {"nnUNet_compile": "false", "nnUNet_n_proc_DA": "0", "nnUNet_def_n_proc": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)


def write_image(path: Path, size: tuple[int, ...] = (6, 5, 4), *, components: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if components > 1:
        image = sitk.Image(list(size), sitk.sitkVectorFloat32, components)
    else:
        image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=size[::-1]).astype(np.float32))
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    write_image(folder / "case1_0000.nii.gz")
    write_image(folder / "case2.nii.gz")
    return folder


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A model folder whose files are present; its checkpoint is replaced by each test that loads it."""
    folder = tmp_path / "model"
    (folder / "fold_0").mkdir(parents=True)
    for name in ("nnlandmark.json", "plans.json", "dataset.json"):
        (folder / name).write_text("{}")
    torch.save({"network_weights": {}}, folder / "fold_0" / "checkpoint_final.pth")
    return folder


class FakePredictor:
    def predict_image(self, image_file: Path) -> LandmarkSet:
        return LandmarkSet(("nasion",), np.array([[1.0, 2.0, 3.0]]), np.array([True]), np.array([0.8]))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def predict(*args: str | Path) -> int:
    return cli.main(["predict", *(str(a) for a in args)])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("nnlandmark predict: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_notes_in_the_output_folder_survive_a_run(tmp_path: Path, images: Path, model: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("nnlandmark.inference.landmark_predictor.load_model", lambda *a, **k: FakePredictor())
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    before = tree(images)
    assert predict("-i", images, "-o", out, "-m", model, "--threads", "1") == 0
    assert json.loads(capsys.readouterr().out) == {"cases": 2, "folds": [0], "output": str(out)}
    assert (out / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in out.iterdir()) == [
        "case1.json", "case1.mrk.json", "case2.json", "case2.mrk.json", "notes.txt"]
    assert tree(images) == before
    assert not (tmp_path / "out.partial").exists()


@pytest.mark.parametrize("inside", [False, True], ids=["equal", "inside"])
def test_an_output_folder_in_the_images_is_refused(tmp_path: Path, images: Path, model: Path, inside: bool,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(images)
    out = images / "predictions" if inside else tmp_path / "." / "images"
    assert predict("-i", images, "-o", out, "-m", model) == 2
    message = one_line_error(capsys)
    assert f"output folder {out} is" in message and "choose an output folder outside it" in message
    assert tree(images) == before


def test_an_output_that_is_a_file_is_refused(tmp_path: Path, images: Path, model: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").write_text("not a folder")
    assert predict("-i", images, "-o", tmp_path / "out", "-m", model) == 2
    assert "is an existing file, not a folder" in one_line_error(capsys)
    assert (tmp_path / "out").read_text() == "not a folder"


@pytest.mark.parametrize("content", ["random bytes", "truncated zip", "runs code"])
def test_a_bad_checkpoint_stops_before_any_output(tmp_path: Path, images: Path, model: Path, content: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    marker = tmp_path / "pwned"
    if content == "random bytes":
        checkpoint.write_bytes(os.urandom(2048))
    elif content == "truncated zip":
        data = checkpoint.read_bytes()
        checkpoint.write_bytes(data[: len(data) // 2])
    else:
        class Trap:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return os.system, (f"touch '{marker}'",)

        torch.save({"network_weights": {}, "trap": Trap()}, checkpoint)
    assert predict("-i", images, "-o", tmp_path / "out", "-m", model) == 2
    message = one_line_error(capsys)
    assert f"checkpoint {checkpoint}" in message
    unsafe, unreadable = "outside the allow-list (posix.system)", "not a readable torch checkpoint"
    assert (unsafe if content == "runs code" else unreadable) in message
    assert not (tmp_path / "out").exists()
    assert not marker.exists()


@pytest.mark.parametrize("bad", ["random bytes", "2-D", "vector"])
def test_a_bad_image_stops_before_any_output(tmp_path: Path, images: Path, model: Path, bad: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = images / "case3.nii.gz"
    if bad == "random bytes":
        path.write_bytes(os.urandom(1024))
    elif bad == "2-D":
        write_image(path, (6, 5))
    else:
        write_image(path, components=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert predict("-i", images, "-o", out, "-m", model) == 2
    message = one_line_error(capsys)
    assert f"1 of 3 images cannot be predicted: {path}: " in message
    problems = {"random bytes": "not a readable image", "2-D": "a 2-D image", "vector": "3 values per voxel"}
    problem = problems[bad]
    assert problem in message
    assert "move them out of the input folder" in message
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--tile-step-size", "0", "argument --tile-step-size: must be in (0, 1]"),
    ("--tile-step-size", "1.5", "argument --tile-step-size: must be in (0, 1]"),
    ("--tile-step-size", "nan", "argument --tile-step-size: must be in (0, 1]"),
    ("--tile-step-size", "half", "argument --tile-step-size: expected a number in (0, 1], got 'half'"),
    ("--threads", "0", "argument --threads: must be at least 1, got 0"),
    ("--threads", "two", "argument --threads: expected a whole number of threads >= 1"),
])
def test_bad_options_are_refused_by_the_parser(tmp_path: Path, images: Path, model: Path, option: str,
                                               value: str, expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        predict("-i", images, "-o", tmp_path / "out", "-m", model, option, value)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"nnlandmark predict: error: {expected}")
    assert not (tmp_path / "out").exists()


def test_valid_step_sizes_pass() -> None:
    assert cli.step_fraction("1") == 1.0
    assert cli.step_fraction("0.25") == 0.25


def test_a_missing_model_folder_is_named(tmp_path: Path, images: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert predict("-i", images, "-o", tmp_path / "out", "-m", tmp_path / "no-model") == 2
    message = one_line_error(capsys)
    assert f"model folder {tmp_path / 'no-model'} does not exist" in message
    assert not (tmp_path / "out").exists()
    assert predict("-i", images, "-o", tmp_path / "out", "-m", tmp_path / "no-model", "-f", "0") == 2
    assert f"model folder {tmp_path / 'no-model'} does not exist" in one_line_error(capsys)


def test_a_missing_image_folder_is_named(tmp_path: Path, model: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert predict("-i", tmp_path / "no-images", "-o", tmp_path / "out", "-m", model) == 2
    assert f"image folder {tmp_path / 'no-images'} does not exist" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["second channel", "broken link"])
def test_a_second_channel_or_a_broken_link_stops_before_any_output(tmp_path: Path, images: Path, model: Path,
                                                                   bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    if bad == "second channel":
        path = write_image(images / "case1_0001.nii.gz")
        expected = f"{path}: named as channel 1 of case 'case1', but models take one image (channel) per case"
    else:
        path = images / "case3.nii.gz"
        path.symlink_to(tmp_path / "gone.nii.gz")
        expected = f"{path}: a broken link (to {tmp_path / 'gone.nii.gz'}); fix the link, or remove it"
    out = tmp_path / "out"
    assert predict("-i", images, "-o", out, "-m", model) == 2
    assert expected in one_line_error(capsys)
    assert not out.exists()


def test_a_fold_given_twice_is_used_once_and_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.unique_folds([0, 2, 0, 1]) == [0, 2, 1]
    assert "-f gives fold(s) 0 more than once; each is used once" in capsys.readouterr().err
    assert cli.unique_folds([1, 0]) == [1, 0] and capsys.readouterr().err == ""
