"""Shareable models: ``export-model`` packs folds and a card into a .zip, ``predict -m model.zip`` gives the
landmarks of the folder it came from, and an altered or unsafe archive is refused before anything is used."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nnlandmark import cli
from nnlandmark.inference.model_archive import CACHE_VARIABLE, export_model, extract_model
from nnlandmark.inference.model_card import CARD_JSON, CARD_TEXT, default_checkpoint
from nnlandmark.inference.model_folder import available_folds
from nnlandmark.landmarks import read_landmarks
from nnlandmark.provenance import file_digest
from tests.inference.tiny_model import LANDMARKS, make_model_folder, write_image


@pytest.fixture(autouse=True)
def _runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in {"nnUNet_compile": "false", "nnUNet_n_proc_DA": "0", "nnUNet_def_n_proc": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model_folder(tmp_path / "nnLandmarkTrainer__nnUNetPlans__3d_fullres")


@pytest.fixture
def archive(tmp_path: Path, model: Path) -> Path:
    path = tmp_path / "model.zip"
    assert cli.main(["export-model", "-m", str(model), "-o", str(path)]) == 0
    return path


def run(*args: str | Path) -> int:
    return cli.main([str(a) for a in args])


def one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(f"nnlandmark {command}: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def cached_models(tmp_path: Path) -> list[str]:
    """Everything in the cache's models folder: no extracted model, and no left-over temporary folder."""
    folder = tmp_path / "cache" / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def rewrite(source: Path, target: Path, *, change: Callable[[zipfile.ZipInfo, bytes], bytes] = lambda i, d: d,
            extra: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    """A copy of the archive ``source`` with members changed by ``change`` and ``extra`` members appended."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            copy.writestr(info, change(info, original.read(info)))
        for info, data in extra:
            copy.writestr(info, data)
    return target


def test_export_holds_the_folds_and_a_card_with_a_manifest(capsys: pytest.CaptureFixture[str], model: Path,
                                                           archive: Path) -> None:
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"archive": str(archive), "folds": [0, 1], "checkpoint": "checkpoint_final.pth", "files": 11}
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        card = json.loads(zipped.read(CARD_JSON))
        for name, digest in card["manifest"].items():
            assert hashlib.sha256(zipped.read(name)).hexdigest() == digest, name
    per_fold = {f"fold_{f}/{n}" for f in (0, 1)
                for n in ("checkpoint_final.pth", "nnlandmark_fold.json", "validation/summary.json")}
    assert names == {"plans.json", "dataset.json", "nnlandmark.json", CARD_JSON, CARD_TEXT, *per_fold}
    assert set(card["manifest"]) == names - {CARD_JSON}
    assert card["landmarks"] == list(LANDMARKS)
    assert card["channels"] == {"0": "image"}
    assert card["target_spacing_mm"] == [1.0, 1.0, 2.0]  # plans' (z, y, x) spacing [2, 1, 1] in image axes
    assert card["patch_size_voxels"] == [8, 8, 8]
    assert card["recipe"]["heatmap"]["sigma"] == 2.0
    assert [(f["fold"], f["validation"]["mre_mm"], f["validation"]["n_cases"]) for f in card["folds"]] == [
        (0, 1.5, 3), (1, 2.5, 3)]
    assert set(card["versions"]) >= {"nnlandmark", "nnunetv2"} and card["versions"]["nnunetv2"] == "2.8.1"
    assert card["created"]


def test_predicting_from_the_zip_in_a_fresh_folder_gives_the_folders_landmarks(
        tmp_path: Path, model: Path, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "images" / "case1.nii.gz")
    assert run("predict", "-i", tmp_path / "images", "-o", tmp_path / "from_folder", "-m", model) == 0
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    shared = Path(shutil.copy(archive, fresh / "shared.zip"))
    shutil.rmtree(model)
    archive.unlink()
    monkeypatch.setenv(CACHE_VARIABLE, str(fresh / "cache"))
    assert run("predict", "-i", tmp_path / "images", "-o", tmp_path / "from_zip", "-m", shared) == 0
    folder, zipped = (read_landmarks(tmp_path / out / "case1.json") for out in ("from_folder", "from_zip"))
    assert folder.names == zipped.names == LANDMARKS
    assert np.array_equal(folder.points, zipped.points, equal_nan=True)
    assert np.array_equal(folder.confidence, zipped.confidence)
    # a second run uses (and re-verifies) the extracted copy
    assert [p.name for p in (fresh / "cache" / "models").iterdir()] == [file_digest(shared)]
    assert run("predict", "-i", tmp_path / "images", "-o", tmp_path / "again", "-m", shared, "-f", "1") == 0


def test_show_model_prints_the_card(model: Path, archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    for source in (archive, model):
        assert run("show-model", "-m", source) == 0
        text = capsys.readouterr().out
        assert f"landmarks (2): {', '.join(LANDMARKS)}" in text
        assert "nnunetv2 2.8.1" in text and "nnlandmark " in text
        assert "fold 0: MRE 1.50 mm over 3 validation cases" in text
        assert "target spacing 1 x 1 x 2 mm" in text
    assert not (archive.parent / "cache").exists()  # shown without extracting


@pytest.mark.parametrize("member", ["plans.json", "fold_0/checkpoint_final.pth", CARD_TEXT])
def test_a_tampered_member_is_refused(tmp_path: Path, archive: Path, member: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    tampered = rewrite(archive, tmp_path / "tampered.zip",
                       change=lambda info, data: data + b" " if info.filename == member else data)
    write_image(tmp_path / "images" / "case1.nii.gz")
    command = "show-model" if member == CARD_TEXT else "predict"
    args = [] if member == CARD_TEXT else ["-i", tmp_path / "images", "-o", tmp_path / "out"]
    assert run(command, *args, "-m", tampered) == 2
    message = one_line_error(capsys, command)
    assert f"{member} does not match its sha256 in the manifest" in message
    assert cached_models(tmp_path) == []
    assert not (tmp_path / "out").exists()


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(("member", "problem"), [
    (zipfile.ZipInfo("../evil"), "a path leading out of the archive's folder (..)"),
    (zipfile.ZipInfo("fold_0/../../evil"), "a path leading out of the archive's folder (..)"),
    (zipfile.ZipInfo("/tmp/evil"), "an absolute path"),
    (symlink("fold_0/link"), "a symbolic link"),
], ids=["parent", "nested-parent", "absolute", "symlink"])
def test_an_unsafe_member_is_refused_before_anything_is_extracted(
        tmp_path: Path, archive: Path, member: zipfile.ZipInfo, problem: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    unsafe = rewrite(archive, tmp_path / "unsafe.zip", extra=[(member, b"/etc/passwd")])
    assert run("show-model", "-m", unsafe) == 2
    message = one_line_error(capsys, "show-model")
    assert f"member {member.filename!r} is {problem}: refusing to extract the archive" in message
    with pytest.raises(Exception, match="refusing to extract"):
        extract_model(unsafe, cache=tmp_path / "cache")
    assert cached_models(tmp_path) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "cache" / "evil").exists()


def test_members_must_match_the_manifest(tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = rewrite(archive, tmp_path / "extra.zip", extra=[(zipfile.ZipInfo("fold_0/notes.txt"), b"hi")])
    with pytest.raises(Exception, match=r"not in the manifest: fold_0/notes.txt"):
        extract_model(extra)
    with zipfile.ZipFile(archive) as original, zipfile.ZipFile(tmp_path / "less.zip", "w") as less:
        for info in original.infolist():
            if info.filename != "dataset.json":
                less.writestr(info, original.read(info))
    with pytest.raises(Exception, match=r"missing: dataset.json"):
        extract_model(tmp_path / "less.zip")
    (tmp_path / "plain.zip").write_bytes(b"not a zip")
    assert run("show-model", "-m", tmp_path / "plain.zip") == 2
    assert "is not a zip archive" in one_line_error(capsys, "show-model")
    assert cached_models(tmp_path) == []


def test_a_changed_file_in_the_cache_is_found(tmp_path: Path, archive: Path) -> None:
    folder = extract_model(archive)
    assert folder == tmp_path / "cache" / "models" / file_digest(archive)
    assert extract_model(archive) == folder
    (folder / "nnlandmark.json").write_text("{}")
    with pytest.raises(Exception, match=r"nnlandmark.json is missing or changed since it was extracted; delete"):
        extract_model(archive)


def test_export_of_chosen_folds_and_bad_outputs(tmp_path: Path, model: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    card = export_model(model, tmp_path / "one.zip", folds=[1])
    assert [f["fold"] for f in card["folds"]] == [1]
    with zipfile.ZipFile(tmp_path / "one.zip") as zipped:
        assert not any(name.startswith("fold_0/") for name in zipped.namelist())
    assert run("export-model", "-m", model, "-o", tmp_path / "model.tar") == 2
    assert "must end in .zip" in one_line_error(capsys, "export-model")
    assert run("export-model", "-m", model, "-o", tmp_path / "no" / "model.zip") == 2
    assert "does not exist; create it first" in one_line_error(capsys, "export-model")
    assert run("export-model", "-m", model, "-o", tmp_path / "m.zip", "-f", "3") == 2
    assert "fold_3/checkpoint_final.pth is missing" in one_line_error(capsys, "export-model")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".zip", ".tmp")) == ["one.zip"]


def test_a_model_exported_with_its_best_checkpoint_predicts_with_it(tmp_path: Path, model: Path) -> None:
    for fold in (0, 1):
        (model / f"fold_{fold}" / "checkpoint_final.pth").rename(model / f"fold_{fold}" / "checkpoint_best.pth")
    assert run("export-model", "-m", model, "-o", tmp_path / "best.zip", "--checkpoint", "checkpoint_best.pth") == 0
    folder = extract_model(tmp_path / "best.zip")
    assert default_checkpoint(folder) == "checkpoint_best.pth"
    assert available_folds(folder, "checkpoint_best.pth") == [0, 1]
    write_image(tmp_path / "images" / "case1.nii.gz")
    assert run("predict", "-i", tmp_path / "images", "-o", tmp_path / "out", "-m", tmp_path / "best.zip") == 0
    assert read_landmarks(tmp_path / "out" / "case1.json").names == LANDMARKS


def test_an_archive_larger_than_the_free_space_is_refused_before_extraction(
        tmp_path: Path, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nnlandmark.inference import model_archive

    with zipfile.ZipFile(archive) as zipped:
        unpacked = sum(info.file_size for info in zipped.infolist())
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(model_archive.shutil, "disk_usage", lambda path: usage._replace(free=unpacked - 1))
    with pytest.raises(model_archive.ModelArchiveError, match=r"unpacks to .* GiB, but the model cache .* GiB free; "
                                                              r"free space there or set NNLANDMARK_CACHE"):
        extract_model(archive, cache=tmp_path / "cache")
    assert cached_models(tmp_path) == []
    monkeypatch.setattr(model_archive.shutil, "disk_usage", lambda path: usage._replace(free=unpacked))
    assert extract_model(archive, cache=tmp_path / "cache").is_dir()
