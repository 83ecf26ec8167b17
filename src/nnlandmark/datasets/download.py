"""Checksum-verified, cached downloads (pooch; gdown for Google Drive) and guarded archive extraction."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from nnlandmark.errors import NNLandmarkError

log = logging.getLogger(__name__)

# git-annex keys carry the content hash in their name, e.g. MD5E-s1234--<md5>.nii.gz
_ANNEX_KEY = re.compile(r"^(MD5|SHA256|SHA1|SHA512)E?-s\d+--([0-9a-fA-F]+)")
_HEX_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_ORIGIN = ".extracted-from"  # archive path, size and mtime: a replaced archive is extracted again


class DownloadError(NNLandmarkError, RuntimeError):
    """A download or archive is missing, incomplete, corrupt or unsafe; the message says what to do."""


def parse_hash(value: str | None) -> str | None:
    """``algorithm:hexdigest`` (pooch's format) from a hash, a bare hex digest or a git-annex key."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    annex = _ANNEX_KEY.match(text)
    if annex:
        return f"{annex.group(1).lower()}:{annex.group(2).lower()}"
    algorithm, colon, digest = text.partition(":")
    if colon and algorithm.lower() in _HEX_LENGTH.values() and re.fullmatch(r"[0-9a-fA-F]+", digest):
        return f"{algorithm.lower()}:{digest.lower()}"
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) in _HEX_LENGTH:
        return f"{_HEX_LENGTH[len(text)]}:{text.lower()}"
    message = f"cannot read the hash {text!r}; expected sha256:<hex>, md5:<hex>, a bare hex digest or a git-annex key"
    raise ValueError(message)


def file_hash(path: Path, algorithm: str) -> str:
    """Hex digest of a file (pooch's chunked hashing)."""
    import pooch

    return pooch.file_hash(str(path), alg=algorithm)


def verify_file(path: Path, known_hash: str | None, *, source: str, delete: bool = True) -> None:
    """Raise DownloadError when the file does not have ``known_hash`` (deleting a downloaded file)."""
    expected = parse_hash(known_hash)
    if expected is None:
        return
    algorithm, digest = expected.split(":")
    found = file_hash(path, algorithm)
    if found != digest:
        if delete:
            path.unlink(missing_ok=True)
        action = (
            "the file was deleted. Run again to download it anew; if it fails again, the source changed: "
            "check the hash in the config"
            if delete
            else "replace the file with an intact copy, or fix the hash in the config"
        )
        message = f"checksum mismatch for {path} from {source}: expected {algorithm} {digest}, got {found}; {action}"
        raise DownloadError(message)


def _cached(dest: Path, known_hash: str | None, *, size: int | None = None) -> bool:
    """A complete earlier download is kept; a stale or damaged one is removed so that it is fetched again."""
    if not dest.is_file():
        return False
    expected = parse_hash(known_hash)
    intact = size is None or dest.stat().st_size == size
    if intact and expected is not None:
        algorithm, digest = expected.split(":")
        intact = file_hash(dest, algorithm) == digest
    if intact:
        log.info("cached: %s", dest)
        return True
    log.warning("%s differs from the expected size or checksum; downloading it again", dest)
    dest.unlink()
    return False


def fetch_url(url: str, dest: Path, *, known_hash: str | None = None, size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is there; never leaves a partial file at ``dest``."""
    import pooch
    import requests

    dest = Path(dest)
    if _cached(dest, known_hash, size=size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    try:
        # pooch downloads into a temporary file and moves it into place only once its hash matches.
        pooch.retrieve(url, known_hash=parse_hash(known_hash), fname=dest.name, path=dest.parent, progressbar=False)
    except ValueError as err:
        if "hash" not in str(err).lower():
            raise
        message = (
            f"checksum mismatch for {dest.name} from {url}: {err}. Nothing was kept; run again to retry, "
            "and if it fails again check the hash in the config"
        )
        raise DownloadError(message) from None
    except requests.exceptions.RequestException as err:
        message = f"download of {url} failed or was truncated ({err}); nothing was kept at {dest}; run again to retry"
        raise DownloadError(message) from None
    if size is not None and dest.stat().st_size != size:
        found = dest.stat().st_size
        dest.unlink()
        message = f"truncated download of {url}: got {found} bytes, the server lists {size}; run again to retry"
        raise DownloadError(message)
    return dest


def fetch_gdrive(file_id: str, dest: Path, *, known_hash: str | None = None, url: str | None = None) -> Path:
    """Download a Google Drive file (large-file confirmation handled by gdown), resuming a partial download.

    ``url`` replaces the Drive address (a mirror); the download is still resumable and checked.
    """
    import gdown
    import requests

    dest = Path(dest)
    if _cached(dest, known_hash):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s (resumable)", url or f"Google Drive file {file_id}", dest)
    try:
        # gdown keeps received bytes in <dest><random>.part and continues from there when run again.
        if url:
            gdown.download(url=url, output=str(dest), quiet=True, resume=True)
        else:
            gdown.download(id=file_id, output=str(dest), quiet=True, resume=True)
    except gdown.exceptions.DownloadError as err:
        detail = " ".join(str(err).split())
        message = f"download of {url or 'Google Drive file ' + file_id} incomplete: {detail} Run again to resume"
        raise DownloadError(message) from None
    except (gdown.exceptions.FileURLRetrievalError, requests.exceptions.RequestException) as err:
        message = (
            f"download of {url or 'Google Drive file ' + file_id} failed ({err}); run again to resume, or fetch "
            f"the file yourself and set the dataset's source: to its path"
        )
        raise DownloadError(message) from None
    verify_file(dest, known_hash, source=url or f"Google Drive file {file_id}")
    return dest


def _safe_member(name: str, *, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        message = (
            f"{archive}: archive member {name!r} escapes the target folder; refusing to extract. "
            "The archive is not the expected dataset: delete it and check its source"
        )
        raise DownloadError(message)


def extract_archive(archive: Path, target: Path) -> Path:
    """Extract a zip or tar archive into ``target``, via a temporary folder renamed at the end.

    A corrupt or truncated archive, or one whose members would land outside ``target``, raises
    DownloadError and leaves no ``target`` behind.
    """
    archive, target = Path(archive), Path(target)
    stat = archive.stat()
    origin = f"{archive.resolve()} {stat.st_size} {stat.st_mtime_ns}\n"
    if target.is_dir():
        if (target / _ORIGIN).is_file() and (target / _ORIGIN).read_text() == origin:
            log.info("already extracted: %s", target)
            return target
        log.info("%s was extracted from another archive; extracting %s again", target, archive)
        shutil.rmtree(target)
    tmp = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    corrupt = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _safe_member(name, archive=archive)
                bad = zf.testzip()
                if bad is not None:
                    raise zipfile.BadZipFile(f"bad CRC for member {bad}")
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    _safe_member(member.name, archive=archive)
                # The "data" filter also refuses links pointing outside, device files and absolute paths.
                tf.extractall(tmp, filter="data")
        else:
            message = (
                f"{archive}: not a zip or tar archive (corrupt, truncated or another format); delete it and run "
                "again, or extract it yourself and set the dataset's source: to the folder"
            )
            raise DownloadError(message)
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except tarfile.FilterError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        message = f"{archive}: archive member escapes the target folder or is unsafe ({err}); refusing to extract"
        raise DownloadError(message) from None
    except corrupt as err:
        shutil.rmtree(tmp, ignore_errors=True)
        message = (
            f"{archive}: corrupt or truncated archive ({type(err).__name__}: {err}); delete it and run again "
            "to download it anew"
        )
        raise DownloadError(message) from None
    (tmp / _ORIGIN).write_text(origin)
    os.replace(tmp, target)
    log.info("extracted %s -> %s", archive, target)
    return target
