"""Tests of the brain-template dataset: exact landmarks, rendering, variety of poses and grids, the fetch step."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.datasets import brain_template
from nnlandmark.datasets.brain import (
    render_subject,
    sample_template,
    subject_landmarks,
    write_brain_dataset,
)
from nnlandmark.datasets.brain_subject import TemplateVolume, load_template_volume, sample_subject
from nnlandmark.datasets.brain_template import BrainTemplate, fetch_brain_template
from nnlandmark.datasets.brain_warp import ROTATION_DEG
from nnlandmark.datasets.download import DownloadError
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, read_landmarks

SPACING = (2.5, 2.5, 2.5)
# Set to a folder to reuse one download of the real template across test sessions.
TOY_FIDUCIALS = {
    "centre": (0.0, 0.0, 0.0),
    "beside centre": (2.0, 0.0, 0.0),
    "right": (-30.0, 10.0, 15.0),
    "left": (25.0, -20.0, -10.0),
    "posterior": (0.0, 72.0, 20.0),
    "superior": (10.0, 5.0, 60.0),
}


@pytest.fixture(scope="module")
def toy_template(tmp_path_factory: pytest.TempPathFactory) -> BrainTemplate:
    """A small smooth head-like template (2 mm, stored as the MNI template is: RAS array axes)."""
    size = (80, 96, 80)
    geometry = ImageGeometry(size=size, spacing=(2.0, 2.0, 2.0), origin=(79.0, 95.0, -70.0),
                             direction=(-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    k, j, i = np.meshgrid(*(np.arange(s, dtype=float) for s in size[::-1]), indexing="ij")
    x, y, z = (79.0 - 2 * i, 95.0 - 2 * j, -70.0 + 2 * k)
    inside = ((x / 70) ** 2 + (y / 85) ** 2 + ((z - 10) / 70) ** 2) < 1
    texture = 1500 + 500 * np.sin(x / 9) * np.cos(y / 11) + 300 * np.cos(z / 7)
    image = sitk.GetImageFromArray(np.where(inside, texture, 30.0).astype(np.float32))
    image.SetOrigin(geometry.origin)
    image.SetSpacing(geometry.spacing)
    image.SetDirection(geometry.direction)
    path = tmp_path_factory.mktemp("toy") / "toy.nii.gz"
    sitk.WriteImage(image, str(path))
    return BrainTemplate(image=path, fiducials=LandmarkSet.from_points(TOY_FIDUCIALS), licence="test only")


@pytest.fixture(scope="module")
def toy_volume(toy_template: BrainTemplate) -> TemplateVolume:
    return load_template_volume(toy_template.image)


def _subjects(volume: TemplateVolume, n: int, *, seed: int = 0) -> list:
    return [sample_subject(seed=seed, index=i, template=volume, spacing=SPACING) for i in range(n)]


def _exactness(subject, fiducials: LandmarkSet) -> tuple[np.ndarray, LandmarkSet]:
    landmarks = subject_landmarks(subject, fiducials)
    error = np.linalg.norm(subject.warp.apply(landmarks.points[landmarks.present])
                           - fiducials.points[landmarks.present], axis=1)
    return error, landmarks


def test_landmarks_map_exactly_onto_the_fiducials(toy_template: BrainTemplate, toy_volume: TemplateVolume) -> None:
    for subject in _subjects(toy_volume, 6):
        error, landmarks = _exactness(subject, toy_template.fiducials)
        assert landmarks.present.sum() >= 3
        assert error.max() < 1e-4, subject.case_id


def test_the_warp_is_a_contraction_away_from_its_affine_part(toy_volume: TemplateVolume) -> None:
    for subject in _subjects(toy_volume, 20):
        warp = subject.warp
        assert warp.lipschitz() / min(warp.scales) < 0.5
        assert np.abs(warp.displacement(warp.bump_centres)).max() > 0.5  # a real deformation, not only affine


def test_a_landmark_voxel_shows_the_template_at_its_fiducial(
    toy_template: BrainTemplate, toy_volume: TemplateVolume
) -> None:
    template_image = sitk.ReadImage(str(toy_template.image))
    for subject in _subjects(toy_volume, 4):
        landmarks = subject_landmarks(subject, toy_template.fiducials)
        for name, point, present in zip(landmarks.names, landmarks.points, landmarks.present):
            if not present:
                continue
            # A one-voxel grid centred on the landmark, stored in the subject's axis order.
            voxel = ImageGeometry(size=(1, 1, 1), spacing=subject.geometry.spacing,
                                  origin=tuple(point), direction=subject.geometry.direction)
            rendered = float(render_subject(toy_volume, subject, geometry=voxel, appearance=False)[0, 0, 0])
            # Independently: SimpleITK's linear interpolation of the template at the fiducial.
            reference = sitk.Image(1, 1, 1, sitk.sitkFloat32)
            reference.SetOrigin(tuple(float(v) for v in toy_template.fiducials.point(name)))
            expected = sitk.Resample(template_image, reference, sitk.Transform(), sitk.sitkLinear, -1.0)
            assert rendered == pytest.approx(float(expected[0, 0, 0]), abs=1e-2), (subject.case_id, name)


def test_written_voxels_are_the_template_through_the_warp(
    tmp_path: Path, toy_template: BrainTemplate, toy_volume: TemplateVolume
) -> None:
    write_brain_dataset(tmp_path, template=toy_template, n_train=2, n_test=1, seed=3, spacing_mm=SPACING)
    rng = np.random.default_rng(0)
    for subject in _subjects(toy_volume, 3, seed=3):
        image = sitk.ReadImage(str(tmp_path / "images" / f"{subject.case_id}.nii.gz"))
        assert ImageGeometry.from_image(image) == subject.geometry
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), render_subject(toy_volume, subject))
        plain = render_subject(toy_volume, subject, appearance=False)
        for _ in range(50):
            index = [int(rng.integers(s)) for s in subject.geometry.size]
            world = np.array([image.TransformIndexToPhysicalPoint(index)])
            expected = sample_template(toy_volume, subject.warp.apply(world))[0]
            assert plain[index[2], index[1], index[0]] == pytest.approx(expected, rel=1e-5, abs=1e-3)


def test_storage_orientations_rotations_and_fields_of_view_vary(toy_volume: TemplateVolume) -> None:
    subjects = _subjects(toy_volume, 20)
    directions = {s.geometry.direction for s in subjects}
    assert len(directions) >= 8
    assert any(np.diag(np.reshape(d, (3, 3))).tolist().count(0.0) >= 2 for d in directions)  # axes swapped
    assert any(min(np.reshape(d, (3, 3)).sum(axis=0)) < 0 for d in directions)  # an axis reversed
    angles = np.array([s.warp.angles_deg for s in subjects])
    assert np.abs(angles).max() > 15.0 and np.abs(angles).max() <= ROTATION_DEG
    assert len({s.geometry.size for s in subjects}) >= 15
    extents = np.array([np.array(s.geometry.size) * s.geometry.spacing for s in subjects])
    assert np.ptp(extents.prod(axis=1)) / extents.prod(axis=1).mean() > 0.3


def test_spacing_is_one_value_or_three(toy_volume: TemplateVolume, toy_template: BrainTemplate) -> None:
    subject = sample_subject(seed=0, index=0, template=toy_volume, spacing=(1.5, 2.0, 3.0))
    assert subject.geometry.spacing == (1.5, 2.0, 3.0)
    with pytest.raises(ValueError, match="spacing_mm"):
        write_brain_dataset(Path("unused"), template=toy_template, spacing_mm=(1.0, 2.0))
    with pytest.raises(ValueError, match="n_absent must be 0"):
        write_brain_dataset(Path("unused"), template=toy_template, n_absent=2)


def test_same_seed_writes_the_same_bytes(tmp_path: Path, toy_template: BrainTemplate) -> None:
    for run in ("a", "b"):
        manifest = write_brain_dataset(tmp_path / run, template=toy_template, n_train=2, n_test=1, seed=7,
                                       spacing_mm=3.0)
    assert manifest.training_cases == ("sub_000", "sub_001") and manifest.test_cases == ("sub_002",)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 10
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    other = write_brain_dataset(tmp_path / "c", template=toy_template, n_train=2, n_test=1, seed=8, spacing_mm=3.0)
    assert other.names == manifest.names
    assert (tmp_path / "a/landmarks/sub_000.json").read_bytes() != (tmp_path / "c/landmarks/sub_000.json").read_bytes()


def test_landmarks_outside_the_field_of_view_are_absent(toy_template: BrainTemplate, toy_volume: TemplateVolume) -> None:
    seen_absent = False
    for subject in _subjects(toy_volume, 20):
        landmarks = subject_landmarks(subject, toy_template.fiducials)
        index = subject.geometry.world_to_index(subject.warp.invert(toy_template.fiducials.points))
        inside = subject.geometry.contains_index(index, margin=0.0)
        np.testing.assert_array_equal(landmarks.present, inside)
        seen_absent |= not inside.all()
    assert seen_absent  # the posterior fiducial lies where the field of view is often cut


# --- the fetch step, offline -------------------------------------------------------------------------------

FAKE_FCSV = """# Markups fiducial file version = 4.6
# CoordinateSystem = 0
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID
n1,1.5,-2.0,3.0,0,0,0,1,1,1,0,1,AC,node
n2,-1.0,-25.0,-2.0,0,0,0,1,1,1,0,2,PC,node
"""


def _fake_wheel(folder: Path) -> Path:
    wheel = folder / brain_template.WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("afids_cnn/resources/" + brain_template.IMAGE, b"not an image")
        archive.writestr("afids_cnn/resources/" + brain_template.FIDUCIALS, FAKE_FCSV)
    return wheel


def test_a_wheel_with_the_wrong_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(brain_template, "download_wheel", _fake_wheel)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as caught:
        fetch_brain_template(cache)
    message = str(caught.value)
    assert brain_template.WHEEL in message and brain_template.WHEEL_SHA256 in message
    assert len([word for word in message.split() if len(word) == 64]) == 2  # found and pinned digests
    assert not (cache / brain_template.SOURCE).exists() and not (cache / brain_template.IMAGE).exists()


def test_a_failed_pip_download_names_the_package_and_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert command[1:4] == ["-m", "pip", "download"] and "afids-cnn==0.2.1" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found\n")

    monkeypatch.setattr(brain_template.subprocess, "run", failing)
    with pytest.raises(DownloadError, match=r"afids-cnn==0\.2\.1 .*No matching distribution") as caught:
        fetch_brain_template(tmp_path / "cache")
    assert str(tmp_path / "cache") in str(caught.value) and "\n" not in str(caught.value)


def test_a_verified_wheel_is_extracted_once_and_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(_fake_wheel(tmp_path).read_bytes()).hexdigest()
    monkeypatch.setattr(brain_template, "WHEEL_SHA256", digest)
    monkeypatch.setattr(brain_template, "download_wheel", _fake_wheel)
    cache = tmp_path / "cache"
    template = fetch_brain_template(cache)
    assert template.fiducials.names == ("AC", "PC")  # named by the desc column, not the numeric labels
    np.testing.assert_allclose(template.fiducials.point("AC"), [-1.5, 2.0, 3.0])  # RAS -> LPS
    record = json.loads((cache / brain_template.SOURCE).read_text())
    assert record["wheel_sha256"] == digest and "McConnell" in record["licence"]
    assert sorted(p.name for p in cache.iterdir()) == sorted([brain_template.IMAGE, brain_template.FIDUCIALS,
                                                               brain_template.SOURCE])

    def no_download(folder: Path) -> Path:
        raise DownloadError("offline")

    monkeypatch.setattr(brain_template, "download_wheel", no_download)
    assert fetch_brain_template(cache).fiducials.names == ("AC", "PC")
    (cache / brain_template.IMAGE).write_bytes(b"changed")  # a damaged cache is fetched again
    with pytest.raises(DownloadError, match="offline"):
        fetch_brain_template(cache)


# --- the real template (fetched with pip once per session; skipped without network) ------------------------


def test_the_real_template_and_its_fiducials(real_template: BrainTemplate) -> None:
    fiducials = real_template.fiducials
    assert len(fiducials) == 32 and fiducials.present.all()
    assert {"AC", "PC", "infracollicular sulcus", "R MB", "L MB", "intermammillary sulcus"} <= set(fiducials.names)
    assert fiducials.point("R MB")[0] < 0 < fiducials.point("L MB")[0]  # LPS: +x is the subject's left
    image = ImageGeometry.from_file(real_template.image)
    assert image.size == (193, 229, 193)
    assert image.contains_index(image.world_to_index(fiducials.points)).all()
    record = json.loads((real_template.image.parent / brain_template.SOURCE).read_text())
    assert record["wheel_sha256"] == brain_template.WHEEL_SHA256
    assert read_landmarks(real_template.image.parent / brain_template.FIDUCIALS).names[0] == "1"  # labels


def test_real_subjects_are_exact_fast_and_keep_close_pairs(tmp_path: Path, real_template: BrainTemplate) -> None:
    start = time.perf_counter()
    write_brain_dataset(tmp_path, template=real_template, n_train=2, n_test=1, seed=0, spacing_mm=2.5)
    assert (time.perf_counter() - start) / 3 < 10.0
    volume = load_template_volume(real_template.image)
    closest_vox = np.inf
    for subject in _subjects(volume, 6):
        error, landmarks = _exactness(subject, real_template.fiducials)
        assert error.max() < 1e-4
        if subject.case_id in ("sub_000", "sub_001", "sub_002"):
            written = read_landmarks(tmp_path / "landmarks" / f"{subject.case_id}.json")
            assert written.allclose(landmarks, atol=1e-9)
        points = landmarks.points[landmarks.present]
        for a, b in itertools.combinations(points, 2):
            closest_vox = min(closest_vox, float(np.linalg.norm(a - b)) / 2.5)
    assert closest_vox < 2.0  # the mammillary bodies and the intermammillary sulcus
