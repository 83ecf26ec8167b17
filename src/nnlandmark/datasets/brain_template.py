"""The MNI152 2009c brain template and its 32 AFIDs fiducials, fetched from the afids-cnn wheel and cached."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nnlandmark.datasets.download import DownloadError
from nnlandmark.landmarks import LandmarkSet, read_landmarks

log = logging.getLogger(__name__)

PACKAGE = "afids-cnn"
VERSION = "0.2.1"
WHEEL = "afids_cnn-0.2.1-py3-none-any.whl"
WHEEL_SHA256 = "55434c4203e3950fd3f2069806c17b3e60a36bffdcc3753212858282124cc12d"
_RESOURCES = "afids_cnn/resources/"
IMAGE = "tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz"
FIDUCIALS = "tpl-MNI152NLin2009cAsym_res-01_T1w.fcsv"
SOURCE = "SOURCE.json"
LICENCE = "afids-cnn: MIT; MNI ICBM152 2009c template: (c) McConnell Brain Imaging Centre, free use with notice"


@dataclass(frozen=True)
class BrainTemplate:
    """The template T1w image (LPS via SimpleITK), its fiducials in LPS mm, and the licence line to cite."""

    image: Path
    fiducials: LandmarkSet
    licence: str


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_wheel(folder: Path) -> Path:
    """``pip download`` the pinned afids-cnn wheel into ``folder``; the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
               "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
               f"{PACKAGE}=={VERSION}", "-d", str(folder)]
    log.info("downloading %s==%s with pip", PACKAGE, VERSION)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = folder / WHEEL
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DownloadError(f"pip could not download {PACKAGE}=={VERSION} (exit {done.returncode}: {last})")
    return wheel


def verify_wheel(wheel: Path) -> None:
    """Raise DownloadError unless ``wheel`` has the pinned sha256."""
    found = sha256(wheel)
    if found != WHEEL_SHA256:
        raise DownloadError(f"{wheel}: sha256 {found} does not match the pinned {WHEEL_SHA256} of "
                            f"{PACKAGE}=={VERSION}; the download is corrupt or not the published wheel")


def _extract(wheel: Path, cache: Path) -> dict[str, str]:
    """Copy the two resource files out of ``wheel`` into ``cache`` (temporary name, then rename); their sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    hashes = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in (IMAGE, FIDUCIALS):
            target = cache / name
            temporary = cache / f".{name}.{uuid.uuid4().hex}.tmp"
            try:
                temporary.write_bytes(archive.read(_RESOURCES + name))
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            hashes[name] = sha256(target)
    return hashes


def _write_source(cache: Path, hashes: dict[str, str]) -> None:
    record = {"package": PACKAGE, "version": VERSION, "wheel": WHEEL, "wheel_sha256": WHEEL_SHA256,
              "files_sha256": hashes, "licence": LICENCE}
    temporary = cache / f".{SOURCE}.{uuid.uuid4().hex}.tmp"
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, cache / SOURCE)


def _cached(cache: Path) -> bool:
    """True when SOURCE.json names the pinned wheel and both files still have the sha256 it records."""
    try:
        record = json.loads((cache / SOURCE).read_text(encoding="utf-8"))
        hashes = record["files_sha256"]
        return record["wheel_sha256"] == WHEEL_SHA256 and all(
            (cache / name).is_file() and sha256(cache / name) == hashes[name] for name in (IMAGE, FIDUCIALS)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def fetch_brain_template(cache: Path) -> BrainTemplate:
    """The template from ``cache``, fetched there first (pip download, checksum, extraction) unless cached."""
    cache = Path(cache)
    if _cached(cache):
        log.info("brain template cached in %s", cache)
    else:
        with tempfile.TemporaryDirectory(prefix="nnlandmark-afids-cnn-") as folder:
            try:
                wheel = download_wheel(Path(folder))
            except DownloadError as err:
                message = f"{err}; nothing was written to the brain template cache {cache}: check the network"
                raise DownloadError(message) from None
            verify_wheel(wheel)
            hashes = _extract(wheel, cache)
        _write_source(cache, hashes)
        log.info("brain template extracted from %s to %s", WHEEL, cache)
    # The labels are the numbers 1..32; the names (AC, PC, ...) are in the desc column.
    fiducials = read_landmarks(cache / FIDUCIALS, fcsv_name_column="desc")
    return BrainTemplate(image=cache / IMAGE, fiducials=fiducials, licence=LICENCE)
