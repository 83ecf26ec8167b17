"""Downloads over a loopback server: checksums, truncation, resume, cache; archives: corrupt and unsafe."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from nnlandmark.datasets.download import DownloadError, extract_archive, fetch_gdrive, fetch_url, parse_hash
from nnlandmark.datasets.openneuro import fetch_dataset, list_files
from tests.datasets.builders import LoopbackServer

PAYLOAD = bytes(range(256)) * 64
Maker = Callable[[Path, dict[str, bytes]], Path]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MD5E-s6858006--14ccd1a56aabefa18912e1553ea3e96f.nii.gz", "md5:14ccd1a56aabefa18912e1553ea3e96f"),
        ("SHA256E-s3658--4fa43ef7e0405910a5bc16e6bd508ef72558a812868013f941b834c7c10a229d.fcsv",
         "sha256:4fa43ef7e0405910a5bc16e6bd508ef72558a812868013f941b834c7c10a229d"),
        ("SHA256:ABCD" + "0" * 60, "sha256:abcd" + "0" * 60),
        ("d41d8cd98f00b204e9800998ecf8427e", "md5:d41d8cd98f00b204e9800998ecf8427e"),
        (None, None),
        ("", None),
    ],
)
def test_hashes_from_config_and_git_annex_keys(value: str | None, expected: str | None) -> None:
    assert parse_hash(value) == expected


def test_unreadable_hash_is_named() -> None:
    with pytest.raises(ValueError, match="cannot read the hash 'abc'"):
        parse_hash("abc")


def test_download_is_verified_and_cached(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    (www / "data.bin").write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "data.bin"
    assert fetch_url(f"{server.url}/data.bin", dest, known_hash=f"sha256:{sha256(PAYLOAD)}") == dest
    assert dest.read_bytes() == PAYLOAD
    (www / "data.bin").unlink()  # a second call must not need the server
    assert fetch_url(f"{server.url}/data.bin", dest, known_hash=sha256(PAYLOAD)) == dest
    (www / "data.bin").write_bytes(PAYLOAD)
    dest.write_bytes(b"damaged")  # a damaged cached copy is fetched again
    assert fetch_url(f"{server.url}/data.bin", dest, known_hash=sha256(PAYLOAD)).read_bytes() == PAYLOAD
    dest.write_bytes(b"stale")
    assert fetch_url(f"{server.url}/data.bin", dest, size=len(PAYLOAD)).read_bytes() == PAYLOAD


def test_checksum_mismatch_stops_and_keeps_nothing(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    (www / "data.bin").write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "data.bin"
    with pytest.raises(DownloadError, match=r"checksum mismatch for data.bin from http://127.0.0.1:\d+/data.bin"):
        fetch_url(f"{server.url}/data.bin", dest, known_hash="md5:" + "0" * 32)
    assert not dest.exists()


def test_truncated_download_stops_and_keeps_nothing(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    (www / "data.bin").write_bytes(PAYLOAD)
    server.handler.truncate_once.add("/data.bin")
    dest = tmp_path / "cache" / "data.bin"
    with pytest.raises(DownloadError, match=r"download of http://127.0.0.1:\d+/data.bin failed or was truncated"):
        fetch_url(f"{server.url}/data.bin", dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    assert fetch_url(f"{server.url}/data.bin", dest).read_bytes() == PAYLOAD  # the next run succeeds


def test_large_file_download_resumes_after_truncation(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    payload = PAYLOAD * 160  # half of it spans 2 of gdown's 512 KiB chunks: the first attempt keeps bytes
    (www / "release.zip").write_bytes(payload)
    server.handler.truncate_once.add("/release.zip")
    dest = tmp_path / "cache" / "release.archive"
    with pytest.raises(DownloadError, match="incomplete: Download is incomplete.*Run again to resume"):
        fetch_gdrive("unused", dest, url=f"{server.url}/release.zip")
    assert not dest.exists()
    partial = list(dest.parent.glob("release.archive*.part"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < len(payload)
    fetch_gdrive("unused", dest, url=f"{server.url}/release.zip", known_hash=sha256(payload))
    assert dest.read_bytes() == payload and not list(dest.parent.glob("*.part"))


def test_large_file_checksum_mismatch_deletes_it(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    (www / "release.zip").write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "release.archive"
    with pytest.raises(DownloadError, match="checksum mismatch for .*release.archive .*the file was deleted"):
        fetch_gdrive("unused", dest, url=f"{server.url}/release.zip", known_hash="sha256:" + "1" * 64)
    assert not dest.exists()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_archives_extract_into_place(tmp_path: Path, maker: Maker) -> None:
    archive = maker(tmp_path / "a.archive", {"top/train/x.txt": b"x", "top/test/y.txt": b"y"})
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "top" / "train" / "x.txt").read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert extract_archive(archive, tmp_path / "out") == out  # extracted once
    maker(archive, {"top/train/z.txt": b"z"})  # a replaced archive is extracted anew
    assert sorted(p.name for p in (extract_archive(archive, out) / "top" / "train").iterdir()) == ["z.txt"]


@pytest.mark.parametrize("maker", [make_zip, make_tar])
@pytest.mark.parametrize("member", ["../evil.txt", "top/../../evil.txt", "/abs/evil.txt"])
def test_archive_member_escaping_the_target_is_refused(tmp_path: Path, maker: Maker, member: str) -> None:
    archive = maker(tmp_path / "a.archive", {"top/ok.txt": b"ok", member: b"evil"})
    with pytest.raises(DownloadError, match=r"escapes the target folder; refusing to extract"):
        extract_archive(archive, tmp_path / "sub" / "out")
    assert not (tmp_path / "sub" / "out").exists() and not list((tmp_path / "sub").iterdir())
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "sub" / "evil.txt").exists()


def test_tar_link_escaping_the_target_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("top/link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tf.addfile(info)
    with pytest.raises(DownloadError, match="escapes the target folder or is unsafe"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_truncated_archive_is_reported_as_corrupt(tmp_path: Path, maker: Maker) -> None:
    archive = maker(tmp_path / "a.archive", {f"top/{n}.bin": bytes(range(256)) * 40 for n in range(5)})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DownloadError, match=r"a.archive: (corrupt or truncated archive|not a zip or tar archive)"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.archive"]


def test_corrupt_zip_member_is_reported(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"top/data.bin": b"A" * 5000})
    data = bytearray(archive.read_bytes())
    offset = data.index(b"top/data.bin") + len("top/data.bin") + 10  # inside the stored member's bytes
    data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="a.zip: corrupt or truncated archive"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_openneuro_listing_pages_and_selected_files(www: Path, server: LoopbackServer, tmp_path: Path) -> None:
    dataset = www / "openneuro.org" / "ds000001"
    for name in ["dataset_description.json", "README", "sub-01/anat/sub-01_T1w.nii.gz",
                 "sub-01/func/sub-01_bold.nii.gz", "sub-02/anat/sub-02_T1w.nii.gz",
                 "derivatives/afids_groundtruth/sub-01/anat/sub-01_space-T1w_desc-groundtruth_afids.fcsv"]:
        (dataset / name).parent.mkdir(parents=True, exist_ok=True)
        (dataset / name).write_bytes(name.encode() * 3)
    bucket = f"{server.url}/openneuro.org"
    assert len(list_files("ds000001", base_url=bucket)) == 6  # over two pages of 4
    fetched = fetch_dataset("ds000001", tmp_path / "LHSCPD", base_url=bucket,
                            include=["sub-*/anat/*_T1w.nii.gz", "derivatives/afids_groundtruth/*"])
    assert sorted(p.relative_to(tmp_path / "LHSCPD").as_posix() for p in fetched) == [
        "derivatives/afids_groundtruth/sub-01/anat/sub-01_space-T1w_desc-groundtruth_afids.fcsv",
        "sub-01/anat/sub-01_T1w.nii.gz", "sub-02/anat/sub-02_T1w.nii.gz"]
    pinned = {"sub-01/anat/sub-01_T1w.nii.gz": "MD5E-s10--" + "0" * 32 + ".nii.gz"}
    (tmp_path / "LHSCPD" / "sub-01" / "anat" / "sub-01_T1w.nii.gz").unlink()
    with pytest.raises(DownloadError, match="checksum mismatch for sub-01_T1w.nii.gz"):
        fetch_dataset("ds000001", tmp_path / "LHSCPD", base_url=bucket, include=["sub-01/anat/*"], hashes=pinned)


def test_unknown_openneuro_dataset_is_named(server: LoopbackServer) -> None:
    with pytest.raises(DownloadError, match="OpenNeuro dataset ds999999 has no files"):
        list_files("ds999999", base_url=f"{server.url}/openneuro.org")
