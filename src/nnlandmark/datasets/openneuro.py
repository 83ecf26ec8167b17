"""OpenNeuro datasets from the public S3 bucket (anonymous HTTPS): list a dataset's files, fetch a subset."""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from nnlandmark.datasets.download import DownloadError, fetch_url

log = logging.getLogger(__name__)

# The bucket behind `aws s3 sync --no-sign-request s3://openneuro.org/<accession>`, path-style over HTTPS.
S3_URL = "https://s3.amazonaws.com/openneuro.org"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    """One object of the bucket: path inside the dataset, size in bytes, MD5 when its ETag is one."""

    path: str
    size: int
    md5: str | None


def _text(element: ElementTree.Element, tag: str) -> str | None:
    child = element.find(_NS + tag)
    if child is None:
        child = element.find(tag)
    return None if child is None or child.text is None else child.text


def list_files(accession: str, *, base_url: str = S3_URL) -> list[RemoteFile]:
    """Every file of ``accession`` (S3 ListObjectsV2, following continuation tokens)."""
    import requests

    prefix = f"{accession}/"
    files: list[RemoteFile] = []
    token: str | None = None
    while True:
        params = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
        try:
            response = requests.get(base_url, params=params, timeout=_TIMEOUT_S)
            response.raise_for_status()
            root = ElementTree.fromstring(response.content)
        except (requests.exceptions.RequestException, ElementTree.ParseError) as err:
            message = (
                f"cannot list OpenNeuro dataset {accession} at {base_url} ({err}); check the network, or "
                "download the dataset yourself and set its source: to the folder"
            )
            raise DownloadError(message) from None
        for item in list(root.iter(_NS + "Contents")) + list(root.iter("Contents")):
            key, size, etag = _text(item, "Key"), _text(item, "Size"), (_text(item, "ETag") or "").strip('"')
            if key is None or key.endswith("/"):
                continue
            # A single-part upload's ETag is the MD5 of the content; multipart ETags end in -<parts>.
            md5 = etag.lower() if re.fullmatch(r"[0-9a-fA-F]{32}", etag) else None
            files.append(RemoteFile(key[len(prefix):], int(size or 0), md5))
        token = _text(root, "NextContinuationToken")
        if (_text(root, "IsTruncated") or "false").lower() != "true" or not token:
            break
    if not files:
        message = f"OpenNeuro dataset {accession} has no files at {base_url}; check the accession number"
        raise DownloadError(message)
    return files


def fetch_dataset(
    accession: str,
    dest: Path,
    *,
    include: Sequence[str],
    base_url: str = S3_URL,
    hashes: Mapping[str, str] | None = None,
) -> list[Path]:
    """Download the files of ``accession`` matching the ``include`` globs into ``dest`` (same relative paths).

    Every file is checked against its size and MD5 from the listing, or against ``hashes`` (path -> hash or
    git-annex key) where given. Files already complete are kept, so an interrupted run continues.
    """
    hashes = dict(hashes or {})
    selected = [f for f in list_files(accession, base_url=base_url) if any(fnmatch.fnmatch(f.path, p) for p in include)]
    if not selected:
        message = f"OpenNeuro dataset {accession}: no files match {', '.join(include)}; is this the right dataset?"
        raise DownloadError(message)
    log.info("%s: %d files to fetch into %s", accession, len(selected), dest)
    fetched = []
    for number, remote in enumerate(selected, start=1):
        relative = PurePosixPath(remote.path)
        if relative.is_absolute() or ".." in relative.parts:
            message = f"OpenNeuro dataset {accession}: file {remote.path!r} would land outside {dest}; refusing it"
            raise DownloadError(message)
        known = hashes.get(remote.path) or (f"md5:{remote.md5}" if remote.md5 else None)
        url = f"{base_url.rstrip('/')}/{accession}/{remote.path}"
        fetched.append(fetch_url(url, Path(dest) / relative, known_hash=known, size=remote.size))
        log.info("%s: %d/%d %s", accession, number, len(selected), remote.path)
    return fetched
