"""Fixture data in the real layouts (own folders, MML release, AFIDs BIDS sources) and a loopback server."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import numpy as np
import SimpleITK as sitk

from nnlandmark.datasets.afids import LANDMARK_NAMES as AFIDS_NAMES
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, write_landmarks
from tests.conftest import oblique_direction

# MML: the header spacing is deliberately wrong; *_spacing.npy holds the true one.
MML_SIZE = (9, 8, 7)
MML_HEADER_SPACING = (1.0, 1.0, 1.0)
MML_SPACING = (0.4, 0.5, 0.3)
MML_ORIGIN = (-3.0, 4.0, 10.0)
AFIDS_GEOMETRY = ImageGeometry(size=(10, 11, 9), spacing=(1.2, 1.0, 1.1), origin=(-5.0, -6.0, 2.0),
                               direction=oblique_direction(20.0, (2.0, 1.0, 1.0)))


def write_image(path: Path, geometry: ImageGeometry, *, seed: int = 0) -> Path:
    """A small noise image with ``geometry`` (format from the suffix)."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.integers(0, 200, size=geometry.size[::-1]).astype(np.int16))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


# A tiny own-data dataset: 8x8x6 oblique, anisotropic images away from the world origin, so that a RAS
# reading of LPS points (x and y negated) falls outside the image.
FOLDER_GEOMETRY = ImageGeometry(size=(8, 8, 6), spacing=(0.9, 1.3, 2.5), origin=(20.0, 30.0, 5.0),
                                direction=oblique_direction(25.0, (1.0, 2.0, 3.0)))
FOLDER_NAMES = ("nasion", "sella", "menton")
# One reference format per case, so that every reader is part of the valid dataset.
FOLDER_SUFFIXES = (".json", ".fcsv", ".mrk.json", ".csv")


def folder_landmarks(case: int, geometry: ImageGeometry = FOLDER_GEOMETRY) -> LandmarkSet:
    """Three LPS landmarks well inside ``geometry``, shifted a little per case."""
    index = np.array([[2.0, 2.0, 1.5], [5.0, 3.0, 2.5], [3.0, 5.5, 3.5]]) + 0.2 * case
    return LandmarkSet(FOLDER_NAMES, geometry.index_to_world(index), np.ones(3, dtype=bool))


def write_folder_dataset(root: Path, *, n_cases: int = 4) -> dict[str, Any]:
    """images/, landmarks/ (each case another format) and rater folder a/rater1/; returns the config block."""
    for case in range(n_cases):
        write_image(root / "images" / f"case{case}.nii.gz", FOLDER_GEOMETRY, seed=case)
        (root / "landmarks").mkdir(parents=True, exist_ok=True)
        suffix = FOLDER_SUFFIXES[case % len(FOLDER_SUFFIXES)]
        write_landmarks(root / "landmarks" / f"case{case}{suffix}", folder_landmarks(case))
        (root / "a" / "rater1").mkdir(parents=True, exist_ok=True)
        write_landmarks(root / "a" / "rater1" / f"case{case}.mrk.json", folder_landmarks(case))
    return {"format": "folder", "dataset_id": 1, "name": "Bad", "images": str(root / "images"),
            "landmarks": str(root / "landmarks"), "raters": [str(root / "a" / "rater1")],
            "test_cases": [f"case{n_cases - 1}"]}


def separated_indices(rng: np.random.Generator, size: tuple[int, ...], n: int, *, step: float = 2.2) -> np.ndarray:
    """``n`` random (i, j, k) indices inside an image of ``size``, each at a distinct site of a lattice of
    ``step`` voxels, jittered by at most 0.05: more than 2 voxels apart, as conversion requires (closer
    landmarks cannot both keep their training centres)."""
    axes = [np.arange(1.0, s - 2.0 + 1e-9, step) for s in size]
    lattice = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    if len(lattice) < n:
        raise ValueError(f"an image of {size} voxels holds {len(lattice)} sites {step} voxels apart, not {n}")
    sites = lattice[rng.choice(len(lattice), size=n, replace=False)]
    return sites + rng.uniform(-0.05, 0.05, size=sites.shape)


def mml_indices(seed: int, *, complete: bool) -> np.ndarray:
    """14x3 ITK (i, j, k) indices inside the MML fixture volume; absent rows as the release marks them."""
    indices = separated_indices(np.random.default_rng(seed), MML_SIZE, 14)
    if not complete:
        indices[3] = -1.0
        indices[10] = [-1000.0, -1000.0, -1000.0]
    return indices


def write_mml_case(folder: Path, case_id: str, *, seed: int, complete: bool = True) -> None:
    """<case>_volume.nrrd (oblique, wrong header spacing), <case>_label.npy, <case>_spacing.npy."""
    geometry = ImageGeometry(MML_SIZE, MML_HEADER_SPACING, MML_ORIGIN, oblique_direction(15.0, (1.0, 0.5, 2.0)))
    write_image(folder / f"{case_id}_volume.nrrd", geometry, seed=seed)
    np.save(folder / f"{case_id}_label.npy", mml_indices(seed, complete=complete))
    np.save(folder / f"{case_id}_spacing.npy", np.array(MML_SPACING))


def write_mml_release(root: Path, cases: Mapping[str, tuple[str, bool]]) -> Path:
    """mmld_dataset/{train,val,test}/ with the given case -> (folder, complete); returns mmld_dataset/."""
    release = root / "mmld_dataset"
    for split in ("train", "val", "test"):
        (release / split).mkdir(parents=True, exist_ok=True)
    for seed, (case_id, (split, complete)) in enumerate(sorted(cases.items())):
        write_mml_case(release / split, case_id, seed=seed, complete=complete)
    return release


def zip_tree(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` with its own name as the top-level member folder."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def afids_points(seed: int, geometry: ImageGeometry = AFIDS_GEOMETRY) -> np.ndarray:
    """32 LPS points inside ``geometry``, more than 2 voxels apart."""
    return geometry.index_to_world(separated_indices(np.random.default_rng(seed), geometry.size, 32))


def afids_fcsv(points_lps: np.ndarray, *, labels: Iterable[str] | None = None, system: str = "0") -> str:
    """A Slicer 4.x .fcsv as AFIDs ships them: RAS (CoordinateSystem = 0), label = AFID number, desc = name."""
    lines = [
        "# Markups fiducial file version = 4.10",
        f"# CoordinateSystem = {system}",
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID",
    ]
    flip = np.array([-1.0, -1.0, 1.0]) if system in ("0", "RAS") else np.ones(3)
    labels = list(labels) if labels is not None else [str(n) for n in range(1, 33)]
    for n, (label, point) in enumerate(zip(labels, points_lps), start=1):
        x, y, z = (point * flip).tolist()
        desc = AFIDS_NAMES[n - 1]
        lines.append(f"vtkMRMLMarkupsFiducialNode_{n},{x!r},{y!r},{z!r},0,0,0,1,1,1,0,{label},{desc},"
                     "vtkMRMLScalarVolumeNode1")
    return "\n".join(lines) + "\n"


def write_afids_subject(root: Path, subject: str, *, seed: int, entities: str | None = None,
                        raters: Iterable[str] = ("raterAT", "raterGG")) -> np.ndarray:
    """sub-*/anat/<entities>_T1w.nii.gz, its ground truth and rater files; returns the true LPS points."""
    entities = entities or subject
    write_image(root / subject / "anat" / f"{entities}_T1w.nii.gz", AFIDS_GEOMETRY, seed=seed)
    points = afids_points(seed)
    truth = root / "derivatives" / "afids_groundtruth" / subject / "anat"
    truth.mkdir(parents=True, exist_ok=True)
    (truth / f"{entities}_space-T1w_desc-groundtruth_afids.fcsv").write_text(afids_fcsv(points))
    rated = root / "derivatives" / "afids_rater" / subject / "anat"
    rated.mkdir(parents=True, exist_ok=True)
    for r, rater in enumerate(raters):
        jitter = np.random.default_rng(seed * 10 + r).normal(0, 0.2, size=points.shape)
        (rated / f"{entities}_space-T1w_desc-{rater}_afids.fcsv").write_text(afids_fcsv(points + jitter))
    return points


def write_afids_source(root: Path, subjects: Iterable[str], *, entities: str = "{subject}") -> Path:
    """A source's BIDS tree with dataset_description.json and the given annotated subjects."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text('{"Name": "fixture", "BIDSVersion": "1.7.0"}\n')
    for seed, subject in enumerate(subjects):
        write_afids_subject(root, subject, seed=seed, entities=entities.format(subject=subject))
    return root


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class LoopbackHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; S3 ListObjectsV2 on the bucket path; byte ranges; truncation of chosen files once."""

    truncate_once: ClassVar[set[str]] = set()
    page_size = 4
    timeout = 10

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's method name
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if query.get("list-type") == ["2"]:
            self._list_bucket(unquote(parts.path).strip("/"), query)
            return
        local = Path(self.translate_path(parts.path))
        if not local.is_file():
            super().do_GET()
            return
        data = local.read_bytes()
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            start = int(ranged[len("bytes="):-1])
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if parts.path in self.truncate_once:
            type(self).truncate_once.discard(parts.path)
            self.wfile.write(data[start:start + (len(data) - start) // 2])
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def _list_bucket(self, bucket: str, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        base = Path(self.directory) / bucket
        keys = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        keys = [k for k in keys if k.startswith(prefix)]
        start = int(query.get("continuation-token", ["0"])[0])
        page = keys[start:start + self.page_size]
        truncated = start + self.page_size < len(keys)
        items = "".join(
            f"<Contents><Key>{escape(k)}</Key><Size>{(base / k).stat().st_size}</Size>"
            f"<ETag>&quot;{md5(base / k)}&quot;</ETag></Contents>"
            for k in page
        )
        token = f"<NextContinuationToken>{start + self.page_size}</NextContinuationToken>" if truncated else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><IsTruncated>{str(truncated).lower()}"
            f"</IsTruncated>{items}{token}</ListBucketResult>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 serving ``root``; use as a context manager."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (LoopbackHandler,), {"truncate_once": set()})
        self.handler = handler
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
