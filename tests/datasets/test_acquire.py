"""Fixture releases served on loopback go through download -> checksum -> extract -> prepare -> convert."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset
from nnlandmark.datasets.acquire import acquire
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.download import DownloadError
from nnlandmark.datasets.sources import load_source_dataset, prepare_source
from tests.datasets.builders import LoopbackServer, write_afids_source, write_mml_release, zip_tree

MML_CASES = {f"{n:04d}": (("train", "val", "test")[n % 3], n != 4) for n in range(1, 10)}


def mml_split(path: Path) -> Path:
    complete = sorted(c for c, (_, ok) in MML_CASES.items() if ok)
    path.write_text(json.dumps({"imagesTr": complete[:-2], "imagesTs": complete[-2:], "all": complete}))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(block: dict, source_root: Path, raw_root: Path) -> Path:
    source = load_source_dataset(block, source_root=source_root)
    return write_nnunet_raw_dataset(source.cases, raw_root=raw_root, dataset_id=int(block["dataset_id"]),
                                    name=block["name"], landmark_names=source.names, test_cases=source.test_cases,
                                    channel_name=block["channel"], num_folds=3)


def test_mml_from_a_download_to_nnunet_raw(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    archive = zip_tree(write_mml_release(tmp_path / "release", MML_CASES), www / "mmld_dataset.zip")
    block = {"format": "mml_complete", "dataset_id": 735, "name": "MML_comp", "channel": "CT",
             "gdrive_id": "1NGsBbqXZLDlkiSJtDQdyMlXzgnkFoVON", "url": f"{server.url}/mmld_dataset.zip",
             "sha256": sha256(archive)}
    download = acquire(block, tmp_path / "resources" / "mml")
    assert Path(download["release"]) == tmp_path / "resources" / "mml" / "mml_release"
    prepare_source(block, download, tmp_path / "source", split=mml_split(tmp_path / "split.json"))
    raw = convert(block, tmp_path / "source", tmp_path / "raw")
    dataset = json.loads((raw / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT"} and len(dataset["landmarks"]) == 14
    assert sorted(p.name for p in (raw / "imagesTs").iterdir()) == ["0008_0000.nii.gz", "0009_0000.nii.gz"]
    assert dataset["numTraining"] == 6
    archive.unlink()  # a second run uses the cache and the extracted release
    assert acquire(block, tmp_path / "resources" / "mml") == download


def test_mml_checksum_mismatch_names_the_config_hash(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    zip_tree(write_mml_release(tmp_path / "release", MML_CASES), www / "mmld_dataset.zip")
    block = {"format": "mml", "url": f"{server.url}/mmld_dataset.zip", "sha256": "0" * 64}
    with pytest.raises(DownloadError, match=r"checksum mismatch for .*mml_release.archive from http://127.0.0.1:"
                                            r"\d+/mmld_dataset.zip: expected sha256 0{64}, got [0-9a-f]{64}"):
        acquire(block, tmp_path / "resources" / "mml")
    assert not list((tmp_path / "resources" / "mml").iterdir())


def test_local_mml_copy_is_used_and_checked_without_deleting_it(tmp_path: Path) -> None:
    release = write_mml_release(tmp_path / "mine", MML_CASES)
    assert acquire({"format": "mml", "source": str(release)}, tmp_path / "cache") == {
        "format": "mml", "release": str(release)}
    archive = zip_tree(release, tmp_path / "mmld.zip")
    found = acquire({"format": "mml", "source": str(archive), "sha256": sha256(archive)}, tmp_path / "cache")
    assert (Path(found["release"]) / "mmld_dataset" / "test").is_dir()
    with pytest.raises(DownloadError, match=r"checksum mismatch for .*mmld.zip .*replace the file with an intact copy"):
        acquire({"format": "mml", "source": str(archive), "sha256": "md5:" + "0" * 32}, tmp_path / "cache2")
    assert archive.is_file()
    with pytest.raises(DatasetError, match=r"source .*nowhere.zip does not exist; fix the dataset's source: path"):
        acquire({"format": "mml", "source": str(tmp_path / "nowhere.zip")}, tmp_path / "cache")


def test_afids_from_openneuro_and_a_local_copy_hcp_skipped(www: Path, server: LoopbackServer, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    write_afids_source(www / "openneuro.org" / "ds004471", ["sub-087", "sub-093", "sub-103"])
    write_afids_source(www / "openneuro.org" / "ds004470", ["sub-C001", "sub-C005"],
                       entities="{subject}_acq-MP2RAGE_run-01")
    (www / "openneuro.org" / "ds004471" / "sub-087" / "func").mkdir()
    (www / "openneuro.org" / "ds004471" / "sub-087" / "func" / "sub-087_bold.nii.gz").write_bytes(b"not needed")
    oasis = write_afids_source(tmp_path / "mine" / "AFIDs-OASIS", ["sub-0010", "sub-0177"])
    bucket = f"{server.url}/openneuro.org"
    block = {"format": "afids", "dataset_id": 732, "name": "Afids", "channel": "MRI",
             "test_cases": ["LHSCPD_sub-093", "SNSX_sub-C005", "AFIDs-OASIS_sub-0177"],
             "sources": {"LHSCPD": {"openneuro": "ds004471", "url": bucket},
                         "SNSX": {"openneuro": "ds004470", "url": bucket},
                         "AFIDs-OASIS": {"source": str(oasis)},
                         "AFIDs-HCP": {"source": None, "credentials": "an HCP account"}}}
    with caplog.at_level(logging.WARNING):
        download = acquire(block, tmp_path / "resources" / "afids")
    assert sorted(download["sources"]) == ["AFIDs-OASIS", "LHSCPD", "SNSX"]
    assert "AFIDs-HCP skipped: no source: or openneuro: configured" in download["skipped"]["AFIDs-HCP"]
    assert "with the credentials it asks for (an HCP account)" in caplog.text
    fetched = tmp_path / "resources" / "afids" / "LHSCPD"
    assert not (fetched / "sub-087" / "func").exists() and (fetched / "sub-087" / "anat").is_dir()
    prepare_source(block, download, tmp_path / "source")
    raw = convert(block, tmp_path / "source", tmp_path / "raw")
    assert sorted(p.name for p in (raw / "raters").iterdir()) == ["raterAT", "raterGG"]
    assert len(list((raw / "raters" / "raterAT").iterdir())) == 7
    assert sorted(p.name for p in (raw / "imagesTs").iterdir()) == [
        "AFIDs-OASIS_sub-0177_0000.nii.gz", "LHSCPD_sub-093_0000.nii.gz", "SNSX_sub-C005_0000.nii.gz"]


def test_afids_without_any_source_is_named(tmp_path: Path) -> None:
    block = {"format": "afids", "sources": {"AFIDs-HCP": None, "SNSX": {"enabled": False}}}
    with pytest.raises(DatasetError, match=r"no AFIDs source could be fetched: AFIDs-HCP skipped: .*datalad clone "
                                           r"https://github.com/afids/AFIDs-HCP.* \| SNSX skipped: enabled: false"):
        acquire(block, tmp_path / "cache")
