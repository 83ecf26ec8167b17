"""Each bad input of an own-data folder dataset stops with one message naming the file or key, the problem
and the fix; after the fix the same dataset loads and converts."""

from __future__ import annotations

import json
import logging
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.sources import load_source_dataset
from nnlandmark.landmarks import ImageGeometry, LandmarkError, LandmarkSet, write_landmarks
from nnlandmark.landmarks.fcsv_io import format_fcsv
from tests.datasets.builders import FOLDER_GEOMETRY, folder_landmarks, write_folder_dataset, write_image


@dataclass
class Setup:
    """A dataset on disk, its config block and the cross-validation folds of the conversion."""

    root: Path
    block: dict[str, Any]
    num_folds: int = 2

    def image(self, case: int = 1) -> Path:
        return self.root / "images" / f"case{case}.nii.gz"

    def landmark_file(self, case: int = 1) -> Path:
        [path] = (self.root / "landmarks").glob(f"case{case}.*")
        return path

    def replace_landmarks(self, text: str, suffix: str, case: int = 1) -> Path:
        self.landmark_file(case).unlink()
        path = self.root / "landmarks" / f"case{case}{suffix}"
        path.write_text(text)
        return path

    def replace_image(self, image: sitk.Image, suffix: str, case: int = 1) -> Path:
        self.image(case).unlink()
        path = self.root / "images" / f"case{case}{suffix}"
        sitk.WriteImage(image, str(path), False)
        return path


def convert(setup: Setup) -> Path:
    """What the workflow does with a dataset block: load and check it, then write the nnU-Net dataset."""
    source = load_source_dataset(setup.block, source_root=setup.root)
    return write_nnunet_raw_dataset(source.cases, raw_root=setup.root / "raw", dataset_id=1, name="Bad",
                                    landmark_names=source.names, test_cases=source.test_cases,
                                    channel_name="CT", num_folds=setup.num_folds)


def geometry_image(geometry: ImageGeometry = FOLDER_GEOMETRY, *, pixel: int = sitk.sitkInt16,
                   components: int = 1) -> sitk.Image:
    image = sitk.Image(list(geometry.size), pixel, components)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    return image


def fcsv_without_system(points: np.ndarray, names: tuple[str, ...] = ("nasion", "sella", "menton")) -> str:
    """An .fcsv whose header has no CoordinateSystem line, holding ``points`` as written."""
    text = format_fcsv(LandmarkSet(names, points, np.ones(len(names), dtype=bool)))
    return "".join(line + "\n" for line in text.splitlines() if "CoordinateSystem" not in line)


def sheared(geometry: ImageGeometry = FOLDER_GEOMETRY) -> sitk.Image:
    image = geometry_image(geometry)
    shear = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    direction = np.asarray(geometry.direction).reshape(3, 3) @ shear
    image.SetDirection([float(v) for v in direction.ravel()])
    return image


def nifti_with_pixdim(setup: Setup, axis: int, value: float) -> None:
    """case1 as an uncompressed NIfTI whose header spacing along ``axis`` is ``value`` (ITK reads 0 as 1)."""
    path = setup.replace_image(geometry_image(), ".nii")
    data = bytearray(path.read_bytes())
    struct.pack_into("<f", data, 76 + 4 * (axis + 1), value)
    path.write_bytes(bytes(data))


def sheared_nifti(setup: Setup) -> None:
    nibabel = pytest.importorskip("nibabel")
    affine = np.diag([0.9, 1.3, 2.5, 1.0])
    affine[0, 1] = 0.5
    setup.image().unlink()
    nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 6), np.int16), affine), str(setup.image()))


def filled_image(value: float, *, share: float = 1.0) -> sitk.Image:
    """A float image of FOLDER_GEOMETRY whose first ``share`` of voxels hold ``value`` (the rest 100)."""
    array = np.full(FOLDER_GEOMETRY.size[::-1], 100.0, dtype=np.float32)
    array.reshape(-1)[: round(share * array.size)] = value
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(FOLDER_GEOMETRY.spacing)
    image.SetOrigin(FOLDER_GEOMETRY.origin)
    image.SetDirection(FOLDER_GEOMETRY.direction)
    return image


def absent_everywhere(name: str) -> Callable[[Setup], None]:
    """Every case's landmark file rewritten (as .json) with ``name`` absent."""

    def damage(setup: Setup) -> None:
        for case in range(4):
            landmarks = folder_landmarks(case)
            setup.landmark_file(case).unlink()
            write_landmarks(setup.root / "landmarks" / f"case{case}.json",
                            LandmarkSet(landmarks.names, landmarks.points, [n != name for n in landmarks.names]))

    return damage


def long_case_id(setup: Setup) -> None:
    """case0's image and landmark file renamed to a 245-byte case id (its own names fit, nnU-Net's do not)."""
    name = "c" * 245
    setup.image(0).rename(setup.root / "images" / f"{name}.nii.gz")
    landmark = setup.landmark_file(0)
    landmark.rename(landmark.with_name(name + landmark.name[len("case0"):]))


def restore(setup: Setup) -> None:
    """The generic fix: the valid dataset again."""
    for folder in ("images", "landmarks", "a", "b"):
        shutil.rmtree(setup.root / folder, ignore_errors=True)
    setup.block = write_folder_dataset(setup.root)
    setup.num_folds = 2


def mrk(markup: dict[str, Any]) -> str:
    return json.dumps({"markups": [{"type": "Fiducial", "coordinateSystem": "LPS", **markup}]})


def lps_points(case: int = 1) -> np.ndarray:
    return folder_landmarks(case).points


def add_system_line(setup: Setup) -> None:
    """The fix the message asks for: declare the coordinate system the points were written in."""
    path = setup.landmark_file()
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "# CoordinateSystem = LPS\n" + "".join(lines[1:]))


def rater_with_twin(setup: Setup) -> None:
    shutil.copytree(setup.root / "a" / "rater1", setup.root / "b" / "rater1")
    setup.block["raters"] = [str(setup.root / "a" / "rater1"), str(setup.root / "b" / "rater1")]


def name_twins(setup: Setup) -> None:
    setup.block["raters"] = {"rater1": str(setup.root / "a" / "rater1"),
                             "rater1_b": str(setup.root / "b" / "rater1")}


def block(**changes: Any) -> Callable[[Setup], None]:
    """A damage or fix that only changes config keys (None deletes the key)."""

    def change(setup: Setup) -> None:
        for key, value in changes.items():
            if value is None:
                setup.block.pop(key, None)
            else:
                setup.block[key] = value(setup) if callable(value) else value

    return change


def folds(n: int) -> Callable[[Setup], None]:
    def change(setup: Setup) -> None:
        setup.num_folds = n

    return change


@dataclass(frozen=True)
class Bad:
    """One way to break the valid dataset, what the message must say, and the fix (default: undo it)."""

    id: str
    damage: Callable[[Setup], None]
    message: str
    error: type[Exception] = DatasetError
    fix: Callable[[Setup], None] = restore


BAD_INPUTS = [
    # item 4: raters named by their folder
    Bad("two raters with the same folder name", rater_with_twin,
        r"raters: \S*/a/rater1 and \S*/b/rater1 have the same folder name 'rater1', which names the rater; "
        r"rename one folder, or name the raters in a mapping", fix=name_twins),
    Bad("rater name that is a path", block(raters=lambda s: {"x/y": str(s.root / "a" / "rater1")}),
        r"raters: 'x/y' cannot name a rater",
        fix=block(raters=lambda s: {"xy": str(s.root / "a" / "rater1")})),
    Bad("rater folder that is a file", block(raters=lambda s: [str(s.landmark_file(0))]),
        r"raters: \S*case0.json is a file, not a folder; set raters to the folder"),
    # item 5: landmark files without landmarks
    *[Bad(f"0-byte {suffix}", lambda s, suffix=suffix: s.replace_landmarks("", suffix),
          rf"case1{suffix.replace('.', '[.]')}: empty landmark file \(0 bytes\); save the landmarks",
          LandmarkError)
      for suffix in (".fcsv", ".mrk.json", ".json", ".csv")],
    Bad("fcsv with header only", lambda s: s.replace_landmarks(format_fcsv(LandmarkSet((), [], [])), ".fcsv"),
        r"case1.fcsv: no landmarks in the file \(header lines only, no landmark rows\)", LandmarkError),
    Bad("mrk.json markup without controlPoints", lambda s: s.replace_landmarks(mrk({}), ".mrk.json"),
        r'case1.mrk.json: no landmarks in the file \(its markup has no "controlPoints", or an empty list\)',
        LandmarkError),
    Bad("mrk.json with an empty controlPoints list",
        lambda s: s.replace_landmarks(mrk({"controlPoints": []}), ".mrk.json"),
        r'case1.mrk.json: no landmarks in the file \(its markup has no "controlPoints"', LandmarkError),
    Bad("json with an empty landmarks list", lambda s: s.replace_landmarks('{"landmarks": []}', ".json"),
        r'case1.json: no landmarks in the file \(its "landmarks" list is empty\)', LandmarkError),
    Bad("csv with header only", lambda s: s.replace_landmarks("name,x,y,z,present\n", ".csv"),
        r"case1.csv: no landmarks in the file \(a header line only", LandmarkError),
    Bad("empty rater file", lambda s: (s.root / "a" / "rater1" / "case2.mrk.json").write_text(""),
        r"rater1/case2.mrk.json: empty landmark file \(0 bytes\)", LandmarkError),
    # item 5: an .fcsv without a CoordinateSystem line, checked against its image
    Bad("fcsv without CoordinateSystem that fits only as LPS",
        lambda s: s.replace_landmarks(fcsv_without_system(lps_points()), ".fcsv"),
        r"case1.fcsv: no '# CoordinateSystem' line, and its points fit the image only when read as LPS "
        r"\(read as RAS, Slicer's default, nasion, sella, menton lie outside it\); add the line "
        r"'# CoordinateSystem = LPS'", LandmarkError, fix=add_system_line),
    Bad("fcsv without CoordinateSystem that fits neither way",
        lambda s: s.replace_landmarks(fcsv_without_system(lps_points() + [0.0, 0.0, 400.0]), ".fcsv"),
        r"case1.fcsv: landmarks nasion, sella, menton lie outside the image, read as RAS \(Slicer's default: "
        r"the file has no '# CoordinateSystem' line\) and as LPS", LandmarkError),
    Bad("rater fcsv without CoordinateSystem that fits only as LPS",
        lambda s: (s.root / "a" / "rater1" / "case2.mrk.json").rename(s.root / "a" / "rater1" / "case2.fcsv")
        .write_text(fcsv_without_system(lps_points(2))),
        r"rater1/case2.fcsv: no '# CoordinateSystem' line, and its points fit the image only when read "
        r"as LPS", LandmarkError),
    Bad("rater landmark outside the image",
        lambda s: write_landmarks(s.root / "a" / "rater1" / "case2.mrk.json", LandmarkSet(
            ("nasion",), FOLDER_GEOMETRY.index_to_world(np.array([[30.0, 2.0, 2.0]])), [True])),
        r"rater1/case2.mrk.json: landmarks nasion lie outside the image", LandmarkError),
    # item 5: config keys
    Bad("landmark_names entry in no landmark file", block(landmark_names=["nasion", "Sella", "menton"]),
        r"landmark_names entry 'Sella' is in no landmark file of \S*landmarks \(did you mean 'sella'\?\); "
        r"fix its spelling or remove it from landmark_names",
        fix=block(landmark_names=["nasion", "sella", "menton"])),
    Bad("landmark_names entry listed twice", block(landmark_names=["nasion", "sella", "sella"]),
        r"landmark_names lists 'sella' more than once",
        fix=block(landmark_names=["menton", "sella", "nasion"])),
    Bad("landmark_names as one string", block(landmark_names="nasion"),
        r"landmark_names must be a list of names, e.g. landmark_names: \[a, b\]; got 'nasion'"),
    Bad("images: a file, not a folder", block(images=lambda s: str(s.image(0))),
        r"images: \S*case0.nii.gz is a file, not a folder; set images to the folder that holds the <case>"),
    Bad("landmarks: a file, not a folder", block(landmarks=lambda s: str(s.landmark_file(0))),
        r"landmarks: \S*case0.json is a file, not a folder; set landmarks to the folder"),
    Bad("no images: key", block(images=None), r"format: folder needs images: \(folders of <case> files\)"),
    Bad("fewer training cases than folds", folds(5),
        r"train.num_folds is 5, but the dataset has only 3 training cases \(and 1 test_cases\); 5-fold "
        r"cross-validation needs 5: lower train.num_folds to 3", fix=folds(3)),
    Bad("every case held out", block(test_cases=["case0", "case1", "case2", "case3"]),
        r"train.num_folds is 2, but the dataset has only 0 training cases \(and 4 test_cases\); "
        r".*add training cases, or hold out fewer test_cases", fix=block(test_cases=["case0", "case3"])),
    Bad("test_cases entry listed twice", block(test_cases=["case3", "case3"]),
        r"test_cases lists case3 more than once; list each held-out case once",
        fix=block(test_cases=["case3"])),
    Bad("test_cases entry naming a file", block(test_cases=["case3.nii.gz"]),
        r"test_cases entries case3.nii.gz do not exist in the dataset "
        r"\(4 cases: case0, case1, case2, case3\) "
        r"\('case3.nii.gz': did you mean 'case3'\?\); fix the case ids under test_cases",
        fix=block(test_cases=["case3"])),
    Bad("test_cases as one string", block(test_cases="case3"), r"test_cases must be a list of names"),
    # item 5: images
    Bad("RGB image",
        lambda s: s.replace_image(geometry_image(pixel=sitk.sitkVectorUInt8, components=3), ".nrrd"),
        r"case1.nrrd: 3 components per voxel \(vector of 8-bit unsigned integer: an RGB or vector image\); "
        r"nnLandmark needs single-channel 3D images"),
    Bad("vector NIfTI",
        lambda s: s.replace_image(geometry_image(pixel=sitk.sitkVectorFloat32, components=2), ".nii.gz"),
        r"case1.nii.gz: 2 components per voxel"),
    Bad("NIfTI with zero spacing", lambda s: nifti_with_pixdim(s, 1, 0.0),
        r"case1.nii: zero or negative spacing \[0.9, 0.0, 2.5\] in its NIfTI header \(pixdim\); "
        r"fix the image header's spacing"),
    Bad("NIfTI with NaN spacing", lambda s: nifti_with_pixdim(s, 2, float("nan")),
        r"case1.nii: zero or negative spacing \[0.9, 1.3, nan\] in its NIfTI header"),
    Bad("sheared direction (.mha)", lambda s: s.replace_image(sheared(), ".mha"),
        r"case1.mha: sheared \(non-orthogonal\) image axes \(direction \[\[.*\]\]: axes i and j meet at "
        r"\d+.\d+ degrees, .*\); ITK would straighten them .* Resample the image onto an orthogonal grid"),
    Bad("sheared direction (.nrrd)", lambda s: s.replace_image(sheared(), ".nrrd"),
        r"case1.nrrd: sheared \(non-orthogonal\) image axes \(direction .*axes i and j meet at"),
    Bad("sheared NIfTI sform", sheared_nifti,
        r"case1.nii.gz: sheared \(non-orthogonal\) image axes \(ITK: no orthonormal direction"),
    Bad("2D image", lambda s: sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(s.image())),
        r"case1.nii.gz: a 2D image \(size 8x8\); nnLandmark finds landmarks in 3D volumes"),
    Bad("single-slice image", lambda s: sitk.WriteImage(sitk.Image(8, 8, 1, sitk.sitkInt16), str(s.image())),
        r"case1.nii.gz: a 2D image \(size 8x8x1\)"),
    Bad("4D image", lambda s: sitk.WriteImage(sitk.Image([8, 8, 6, 2], sitk.sitkInt16), str(s.image())),
        r"case1.nii.gz: a 4D image \(size 8x8x6x2\); nnLandmark needs one 3D volume per case"),
    # issue 21: silently accepted before
    Bad("all-NaN image", lambda s: s.replace_image(filled_image(np.nan), ".nrrd"),
        r"case1.nrrd: 100.0% of its voxels \(384 of 384\) are not finite numbers \(NaN or infinite\); fill them"),
    Bad("image with some infinite voxels", lambda s: s.replace_image(filled_image(np.inf, share=0.25), ".mha"),
        r"case1.mha: 25.0% of its voxels \(96 of 384\) are not finite numbers"),
    Bad("CSV writing a missing landmark as 0,0,0",
        lambda s: s.replace_landmarks("name,x,y,z\nnasion,0,0,0\nsella,1,2,3\n", ".csv"),
        r"case1.csv: nasion lies exactly at \(0, 0, 0\), which is how some tools write a missing point; if it is "
        r"missing, mark it absent", LandmarkError),
    Bad("landmark file with an upper-case suffix", lambda s: s.landmark_file(0).rename(s.root / "landmarks" / "case0.JSON"),
        r"case0.JSON: a landmark file whose suffix is written in capitals, which is not read; rename it to case0.json"),
    Bad("image with an upper-case suffix", lambda s: s.image(0).rename(s.root / "images" / "case0.NII.GZ"),
        r"case0.NII.GZ: a image file whose suffix is written in capitals, which is not read; rename it to "
        r"case0.nii.gz"),
    Bad("landmark path that is a folder", lambda s: (s.landmark_file(0).unlink(),
                                                     (s.root / "landmarks" / "case0.json").mkdir()),
        r"landmarks/case0.json: a folder named like a landmark file; the landmark file of case 'case0' must be a file"),
    Bad("image that is a broken link", lambda s: (s.image(0).unlink(), s.image(0).symlink_to(s.root / "gone.nii.gz")),
        r"images/case0.nii.gz: a broken link \(to \S*gone.nii.gz\); fix the link, or remove it"),
    Bad("case id too long for nnU-Net's file names", long_case_id,
        r"c{245}.nii.gz: the case id \(245 bytes\) is too long: nnU-Net's file names \(<case>_0000.nii.gz\) would exceed the "
        r"file system's 255: shorten the file names"),
    Bad("a rater folder that is the reference folder", block(raters=lambda s: [str(s.root / "landmarks")]),
        r"raters: rater 'landmarks' is the reference landmarks folder \S*landmarks itself"),
    Bad("spacing x1000 in a header", lambda s: nifti_with_pixdim(s, 0, 900.0),
        r"case1.nii: implausible spacing \[900.0, 1.3, 2.5\] mm in its NIfTI header \(pixdim\): a CT or MRI voxel is "
        r"0.01-50 mm wide; fix the header's spacing"),
    Bad("landmarks written as voxel indices",
        lambda s: (s.landmark_file(1).unlink(), write_landmarks(s.root / "landmarks" / "case1.json", LandmarkSet(
            ("nasion", "sella", "menton"), np.array([[2.0, 2.0, 1.5], [5.0, 3.0, 2.5], [3.0, 5.5, 3.5]]), [True] * 3))),
        r"case1.json: landmarks nasion, sella, menton lie outside the image; every point lies inside it when read "
        r"as voxel indices \(i, j, k\): the file looks like it holds voxel indices", LandmarkError),
    Bad("json labelled RAS holding LPS values",
        lambda s: s.replace_landmarks(json.dumps({"coordinate_system": "RAS", "landmarks": [
            {"name": n, "position": list(p)} for n, p in zip(("nasion", "sella", "menton"), lps_points())]}), ".json"),
        r"case1.json: landmarks nasion, sella, menton lie outside the image; every point fits it with x and y "
        r"negated, so the file's coordinate system label is the wrong one", LandmarkError),
    Bad("a landmark absent in every training case", absent_everywhere("menton"),
        r"menton is absent in every training case, so its channel could never learn; annotate it in some "
        r"training case, or list only the other landmarks in the dataset's landmark_names",
        fix=block(landmark_names=["nasion", "sella"])),
]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path, write_folder_dataset(tmp_path))


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.id for b in BAD_INPUTS])
def test_bad_input_stops_with_one_clear_message(setup: Setup, bad: Bad) -> None:
    bad.damage(setup)
    with pytest.raises(bad.error, match=bad.message):
        convert(setup)
    bad.fix(setup)
    shutil.rmtree(setup.root / "raw", ignore_errors=True)
    assert (convert(setup) / "dataset.json").is_file()


def test_bad_inputs_are_distinct() -> None:
    assert len({b.id for b in BAD_INPUTS}) == len(BAD_INPUTS) >= 25


def test_valid_dataset_converts(setup: Setup) -> None:
    source = load_source_dataset(setup.block, source_root=setup.root)
    assert [c.case_id for c in source.cases] == ["case0", "case1", "case2", "case3"]
    for case in source.cases:
        assert case.landmarks.allclose(folder_landmarks(int(case.case_id[-1])), atol=1e-9)
        assert set(case.raters) == {"rater1"}


def test_raters_as_a_mapping_keep_both_folders_named_rater1(setup: Setup) -> None:
    rater_with_twin(setup)
    write_landmarks(setup.root / "b" / "rater1" / "case0.mrk.json", folder_landmarks(5))
    name_twins(setup)
    cases = {c.case_id: c for c in load_source_dataset(setup.block, source_root=setup.root).cases}
    assert set(cases["case0"].raters) == {"rater1", "rater1_b"}
    assert cases["case0"].raters["rater1_b"].allclose(folder_landmarks(5))
    assert cases["case0"].raters["rater1"].allclose(folder_landmarks(0))


@pytest.mark.parametrize("status", ["missing", "preview"])
def test_unplaced_mrk_json_points_are_absent(setup: Setup, status: str, caplog) -> None:
    points = folder_landmarks(2).points
    control_points = [{"label": name, "position": [float(v) for v in point], "positionStatus": "defined"}
                      for name, point in zip(folder_landmarks(2).names, points)]
    control_points[1]["positionStatus"] = status
    path = setup.replace_landmarks(mrk({"controlPoints": control_points}), ".mrk.json", case=2)
    with caplog.at_level(logging.INFO):
        cases = load_source_dataset(setup.block, source_root=setup.root).cases
    assert cases[2].landmarks.present.tolist() == [True, False, True]
    messages = [r.message for r in caplog.records]
    assert any(str(path) in m and "'sella'" in m and status in m for m in messages), messages


def test_fcsv_without_coordinate_system_fitting_both_ways_is_ras_with_a_warning(setup: Setup, caplog) -> None:
    # An image centred on the world origin: the points and their x/y mirror images both lie inside.
    half = np.asarray(FOLDER_GEOMETRY.spacing) * (np.asarray(FOLDER_GEOMETRY.size) - 1) / 2
    centre = np.asarray(FOLDER_GEOMETRY.direction).reshape(3, 3) @ half
    geometry = ImageGeometry(FOLDER_GEOMETRY.size, FOLDER_GEOMETRY.spacing, (-centre[0], -centre[1], 5.0),
                             FOLDER_GEOMETRY.direction)
    write_image(setup.image(), geometry)
    del setup.block["raters"]  # annotated on the original image
    centre_z = geometry.index_to_world(np.array([[3.5, 3.5, 2.5]]))[0, 2]
    written = np.array([[0.5, -0.4, centre_z], [-0.3, 0.6, centre_z + 1.0], [0.2, 0.2, centre_z - 1.0]])
    path = setup.replace_landmarks(fcsv_without_system(written), ".fcsv")
    with caplog.at_level(logging.WARNING):
        cases = load_source_dataset(setup.block, source_root=setup.root).cases
    np.testing.assert_allclose(cases[1].landmarks.points, written * [-1.0, -1.0, 1.0])  # read as RAS
    [warning] = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert str(path) in warning and "fit the image as RAS and as LPS; read as RAS" in warning
