"""Exported models: one .zip holding the chosen folds and a card, opened into a verified cache for prediction."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from nnlandmark.errors import InputError
from nnlandmark.inference.fold_records import FOLD_RECORD, check_folds_agree
from nnlandmark.inference.model_card import CARD_JSON, CARD_TEXT, build_card, render_card
from nnlandmark.inference.model_folder import (
    DEFAULT_CHECKPOINT,
    MODEL_FILES,
    available_folds,
    check_model_folder,
    checkpoint_files,
    read_json,
)
from nnlandmark.provenance import file_digest

log = logging.getLogger(__name__)

CACHE_VARIABLE = "NNLANDMARK_CACHE"
_CHUNK = 1 << 20
_ZIP64_FROM = 1 << 31  # zipfile needs to know in advance when a streamed member may need ZIP64 sizes
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)  # the last: unknown compression


class ModelArchiveError(InputError):
    """An exported model archive cannot be used; the message names the archive and the member."""


class UnsafeArchiveError(ModelArchiveError):
    """The archive holds a member that would be written outside its folder, or is not a plain file."""


class ManifestMismatchError(ModelArchiveError):
    """A file's sha256 differs from the one the model card's manifest records."""


def cache_root() -> Path:
    """Where exported models are extracted: ``$NNLANDMARK_CACHE``, else ``~/.cache/nnlandmark`` (XDG)."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "nnlandmark"


def model_files(model_dir: Path, folds: Sequence[int], checkpoint: str) -> list[str]:
    """Paths (relative, '/'-separated) of what an export of ``folds`` holds besides the card."""
    names = list(MODEL_FILES)
    for fold in folds:
        optional = [f"fold_{fold}/{FOLD_RECORD}", f"fold_{fold}/validation/summary.json"]
        names += [f"fold_{fold}/{checkpoint}", *(n for n in optional if (Path(model_dir) / n).is_file())]
    return names


def _copy_hashing(source: IO[bytes], target: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def _add_file(archive: zipfile.ZipFile, path: Path, name: str) -> str:
    """Store ``path`` as ``name``; returns the sha256 of the bytes stored (not of a re-read)."""
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with path.open("rb") as source, archive.open(info, "w", force_zip64=info.file_size >= _ZIP64_FROM) as target:
        return _copy_hashing(source, target)


def export_model(model_dir: Path, archive: Path, *, folds: Sequence[int] | None = None,
                 checkpoint: str = DEFAULT_CHECKPOINT) -> dict[str, Any]:
    """Write ``folds`` (default: every fold with ``checkpoint``) of a trained model folder into ``archive``.

    The archive holds each fold's checkpoint, provenance record and validation summary, the model's
    plans.json, dataset.json and nnlandmark.json, and the card (``model_card.json`` with a sha256 of every
    other member, and ``model_card.txt``). It is written to a temporary file and renamed. Returns the card.
    """
    model_dir, archive = Path(model_dir), Path(archive)
    check_model_folder(model_dir)
    if archive.suffix.lower() != ".zip":
        raise InputError(f"output {archive} must end in .zip (an exported model is a zip archive)")
    if not archive.parent.is_dir():
        raise InputError(f"cannot write {archive}: folder {archive.parent} does not exist; create it first")
    if archive.is_dir():
        raise InputError(f"output {archive} is a folder; name the .zip file to write")
    folds = sorted(set(folds)) if folds is not None else available_folds(model_dir, checkpoint)
    checkpoint_files(model_dir, folds, checkpoint)
    check_folds_agree(model_dir, folds)
    card = build_card(model_dir, folds=folds, checkpoint=checkpoint)
    text = render_card(card)
    temporary = archive.parent / f".{archive.name}.{uuid.uuid4().hex}.tmp"
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            manifest = {name: _add_file(zipped, model_dir / name, name)
                        for name in model_files(model_dir, folds, checkpoint)}
            zipped.writestr(CARD_TEXT, text)
            manifest[CARD_TEXT] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            card["manifest"] = manifest
            zipped.writestr(CARD_JSON, json.dumps(card, indent=2))
        os.replace(temporary, archive)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    log.info("exported folds %s of %s (%s) to %s", folds, model_dir, checkpoint, archive)
    return card


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why extracting ``info`` could write outside the target folder or make a non-file, or None."""
    name = info.filename
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a plain file or folder"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name:
        return "a path with backslashes"
    path = PurePosixPath(name)
    if ".." in path.parts:
        return "a path leading out of the archive's folder (..)"
    if not path.parts or str(path) != name.rstrip("/"):
        return "not a plain relative path"
    return None


def _fail(archive: Path, detail: str, error: type[ModelArchiveError] = ModelArchiveError) -> ModelArchiveError:
    return error(f"model archive {archive}: {detail}")


def checked_manifest(zipped: zipfile.ZipFile, archive: Path) -> dict[str, str]:
    """The card's manifest, once every member is known safe and the members are exactly those listed."""
    infos = zipped.infolist()
    for info in infos:
        problem = member_problem(info)
        if problem:
            raise _fail(archive, f"member {info.filename!r} is {problem}: refusing to extract the archive; "
                                 "only use models from a source you trust", UnsafeArchiveError)
    names = [info.filename for info in infos if not info.is_dir()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _fail(archive, f"holds {', '.join(duplicates)} more than once: refusing an ambiguous archive",
                    UnsafeArchiveError)
    if CARD_JSON not in names:
        raise _fail(archive, f"no {CARD_JSON} in it: not a model exported by `nnlandmark export-model`")
    try:
        manifest = json.loads(zipped.read(CARD_JSON).decode("utf-8")).get("manifest")
    except (UnicodeDecodeError, ValueError, AttributeError):
        manifest = None
    if not isinstance(manifest, dict):
        raise _fail(archive, f"its {CARD_JSON} has no readable file manifest; export the model again")
    unlisted = sorted(set(names) - set(manifest) - {CARD_JSON})
    missing = sorted(set(manifest) - set(names))
    if unlisted or missing:
        detail = "; ".join(part for part in (f"not in the manifest: {', '.join(unlisted)}" if unlisted else "",
                                             f"missing: {', '.join(missing)}" if missing else "") if part)
        raise _fail(archive, f"its members differ from its manifest ({detail}); export the model again",
                    ManifestMismatchError)
    return manifest


def check_room(zipped: zipfile.ZipFile, root: Path, archive: Path) -> None:
    """The archive's unpacked size (its members' declared sizes, which extraction cannot exceed) must fit in the
    free space of the cache, so a bad or hostile archive cannot fill the disk before its manifest check fails."""
    needed = sum(info.file_size for info in zipped.infolist())
    free = shutil.disk_usage(root).free
    if needed > free:
        raise _fail(archive, f"unpacks to {needed / 2**30:.2f} GiB, but the model cache {root} has "
                             f"{free / 2**30:.2f} GiB free; free space there or set {CACHE_VARIABLE} to a folder "
                             "with room")


def _mismatch(archive: Path, name: str) -> ManifestMismatchError:
    message = (f"model archive {archive}: {name} does not match its sha256 in the manifest: the archive was "
               "altered or damaged after export; export or download it again")
    return ManifestMismatchError(message)


def _extract(zipped: zipfile.ZipFile, folder: Path, manifest: dict[str, str], archive: Path) -> None:
    for info in zipped.infolist():
        if info.is_dir():
            continue
        target = folder / info.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipped.open(info) as source, target.open("xb") as copy:
            digest = _copy_hashing(source, copy)
        if info.filename != CARD_JSON and digest != manifest[info.filename]:
            raise _mismatch(archive, info.filename)


def verify_folder(folder: Path, archive: Path) -> None:
    """Every file of an extracted model still has the sha256 its card's manifest records."""
    manifest = read_json(folder / CARD_JSON).get("manifest", {})
    for name, digest in manifest.items():
        path = folder / name
        if not path.is_file() or file_digest(path) != digest:
            message = (f"cached model {folder} (from {archive}): {name} is missing or changed since it was "
                       f"extracted; delete {folder} to extract the archive again")
            raise ManifestMismatchError(message)


def extract_model(archive: Path, *, cache: Path | None = None) -> Path:
    """Extract an exported model into ``<cache>/models/<sha256 of the archive>/`` once; return that folder.

    Members are checked (no absolute paths, ``..``, links or unlisted files) before anything is written, and
    each file against the manifest while it is extracted, into a temporary folder renamed only when all
    is well: a half-extracted or altered model is never used. A folder extracted earlier is re-verified.
    """
    archive = Path(archive)
    root = (Path(cache) if cache is not None else cache_root()) / "models"
    target = root / file_digest(archive)
    if target.is_dir():
        verify_folder(target, archive)
        return target
    partial = root / f".{target.name}.{uuid.uuid4().hex}.partial"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelArchiveError(f"cannot create the model cache {root} ({err.strerror}); set {CACHE_VARIABLE} to "
                                "a writable folder") from None
    try:
        with zipfile.ZipFile(archive) as zipped:
            manifest = checked_manifest(zipped, archive)
            check_room(zipped, root, archive)
            partial.mkdir()
            _extract(zipped, partial, manifest, archive)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            verify_folder(target, archive)  # another process extracted the same archive first
    except _DAMAGED as err:
        raise _fail(archive, f"damaged zip archive ({err}); export or download it again") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("extracted %s into %s", archive, target)
    return target


def archive_card_text(archive: Path) -> str:
    """The text card of an exported model, read from the archive without extracting it, checked by its sha256."""
    archive = Path(archive)
    if not zipfile.is_zipfile(archive):
        raise ModelArchiveError(f"model {archive} is not a zip archive exported by `nnlandmark export-model`")
    try:
        with zipfile.ZipFile(archive) as zipped:
            manifest = checked_manifest(zipped, archive)
            if CARD_TEXT not in manifest:
                raise _fail(archive, f"no {CARD_TEXT} in it; export the model again")
            data = zipped.read(CARD_TEXT)
    except _DAMAGED as err:
        raise _fail(archive, f"damaged zip archive ({err}); export or download it again") from None
    if hashlib.sha256(data).hexdigest() != manifest[CARD_TEXT]:
        raise _mismatch(archive, CARD_TEXT)
    return data.decode("utf-8")


def open_model(model: Path, *, cache: Path | None = None) -> Path:
    """The model folder to load: ``model`` itself, or an exported ``.zip`` extracted into the cache."""
    model = Path(model)
    if not model.exists():
        check_model_folder(model)  # says that the model folder does not exist, and what to pass instead
    if model.is_dir():
        return model
    if not zipfile.is_zipfile(model):
        raise ModelArchiveError(f"model {model} is neither a model folder nor a zip archive exported by "
                                "`nnlandmark export-model`")
    return extract_model(model, cache=cache)
