"""Every bad own-data input stops the conversion with a message naming the file (line, case) and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.datasets.sources import load_source_dataset
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, write_landmarks
from tests.conftest import write_case

NAMES = ("nasion", "sella", "left_eye")
CSV_HEADER = "name,x,y,z,present\n"


def make_dataset(root: Path, geometry: ImageGeometry, n_cases: int = 3) -> dict:
    for n in range(n_cases):
        index = np.array([[6.0, 6, 4], [20, 7, 5], [8, 19, 12]]) + n * 0.3
        landmarks = LandmarkSet(NAMES, geometry.index_to_world(index), np.ones(3, bool))
        write_case(root, f"case{n}", geometry, landmarks, seed=n)
        (root / "landmarks").mkdir(exist_ok=True)
        write_landmarks(root / "landmarks" / f"case{n}.json", landmarks)
        (root / "rater2").mkdir(exist_ok=True)
        write_landmarks(root / "rater2" / f"case{n}.csv", landmarks)
    return {"format": "folder", "images": str(root / "images"), "landmarks": str(root / "landmarks"),
            "raters": [str(root / "rater2")], "test_cases": ["case2"]}


def replace_landmarks(root: Path, text: str, suffix: str = ".fcsv") -> None:
    (root / "landmarks" / "case1.json").unlink()
    (root / "landmarks" / f"case1{suffix}").write_text(text)


def fcsv(rows: list[str], system: str = "LPS") -> str:
    return ("# Markups fiducial file version = 4.11\n"
            f"# CoordinateSystem = {system}\n"
            "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n" + "\n".join(rows) + "\n")


def zero_spacing(root: Path) -> None:
    import SimpleITK as sitk

    (root / "images" / "case1.nii.gz").unlink()
    sitk.WriteImage(sitk.Image(30, 26, 18, sitk.sitkInt16), str(root / "images" / "case1.mha"), False)
    header = (root / "images" / "case1.mha").read_bytes()
    (root / "images" / "case1.mha").write_bytes(header.replace(b"ElementSpacing = 1 1 1", b"ElementSpacing = 1 0 1"))


def negative_spacing(root: Path) -> None:
    zero_spacing(root)
    header = (root / "images" / "case1.mha").read_bytes()
    (root / "images" / "case1.mha").write_bytes(header.replace(b"ElementSpacing = 1 0 1", b"ElementSpacing = 1 -2 1"))


def truncated_nifti(root: Path) -> None:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(root / "images" / "case1.nii.gz"))
    (root / "images" / "case1.nii.gz").unlink()
    sitk.WriteImage(image, str(root / "images" / "case1.nii"), False)
    data = (root / "images" / "case1.nii").read_bytes()
    (root / "images" / "case1.nii").write_bytes(data[:-100])


def outside(root: Path) -> None:
    landmarks = LandmarkSet(NAMES, np.array([[0.0, 0, 0], [5000, 0, 0], [0, 0, 0]]), np.array([False, True, False]))
    write_landmarks(root / "landmarks" / "case1.json", landmarks)


BAD_INPUTS: list[tuple[str, Callable[[Path], None], str]] = [
    ("landmark file without image", lambda r: (r / "images" / "case1.nii.gz").unlink(),
     r"landmark file without image: case1.json \(no matching <case>.* in .*images\); add the image"),
    ("image without landmark file", lambda r: (r / "landmarks" / "case1.json").unlink(),
     r"missing landmark file for image: case1.nii.gz \(expected <case>.* in .*landmarks\)"),
    ("unknown coordinate-system header", lambda r: replace_landmarks(r, fcsv(["1,1,2,3,0,0,0,1,1,1,0,nasion,,"],
                                                                            system="XYZ")),
     r"case1.fcsv:2: unknown coordinate system 'XYZ' .*expected 0 or RAS, 1 or LPS"),
    ("malformed row", lambda r: replace_landmarks(r, fcsv(["1,1,2,3,0,0,0,1,1,1,0,nasion,,",
                                                           "2,1,2"])),
     r"case1.fcsv:5: expected 14 comma-separated columns"),
    ("malformed csv row", lambda r: replace_landmarks(r, CSV_HEADER + "nasion,1,2,3,1\nsella,1,two,3,1\n", ".csv"),
     r"case1.csv:3: expected 3 numeric coordinates, got \['1', 'two', '3'\]"),
    ("NaN coordinate", lambda r: replace_landmarks(r, CSV_HEADER + "nasion,1,nan,3,1\n", ".csv"),
     r"case1.csv:2: NaN or infinite coordinate \['1', 'nan', '3'\] in a present landmark; fix it or mark it absent"),
    ("duplicate landmark name", lambda r: replace_landmarks(r, CSV_HEADER + "nasion,1,2,3,1\nnasion,1,2,4,1\n", ".csv"),
     r"case1.csv:3: duplicate landmark name 'nasion' \(first on line 2\); names must be unique"),
    ("landmark outside the image", outside,
     r"case1.json: landmarks sella lie outside the image; check the file's coordinate system"),
    ("inconsistent landmark names across cases",
     lambda r: replace_landmarks(r, CSV_HEADER + "nasion,1,2,3,1\nSella,1,2,3,1\n", ".csv"),
     (r"case1.csv: inconsistent landmark names across cases: Sella not among .*case0.json's names "
      r"\(nasion, sella, left_eye\); rename them")),
    ("rater names differ from the reference",
     lambda r: (r / "rater2" / "case0.csv").write_text(CSV_HEADER + "nasion,1,2,3,1\nnose,1,2,3,1\n"),
     r"rater2/case0.csv: inconsistent landmark names across cases: nose not among"),
    ("zero spacing", zero_spacing, r"case1.mha: zero or negative spacing \[1.0, 0.0, 1.0\]; fix the image header"),
    ("negative spacing", negative_spacing, r"case1.mha: zero or negative spacing \[1.0, -2.0, 1.0\]"),
    ("unreadable image", lambda r: (r / "images" / "case1.nii.gz").write_bytes(b"\x1f\x8b not really gzip"),
     r"case1.nii.gz: unreadable image \(.*\); re-export or re-download it, or remove the case"),
    ("truncated image", lambda r: (r / "images" / "case1.nii.gz").write_bytes(
        (r / "images" / "case0.nii.gz").read_bytes()[:-2000]), r"case1.nii.gz: unreadable image"),
    ("truncated uncompressed image", truncated_nifti,
     r"case1.nii: unreadable image \(\d+ bytes of image data where its header needs \d+\)"),
]


@pytest.mark.parametrize(("what", "damage", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_named(tmp_path: Path, oblique_geometry: ImageGeometry, what: str,
                            damage: Callable[[Path], None], message: str) -> None:
    block = make_dataset(tmp_path, oblique_geometry)
    load_source_dataset(block, source_root=tmp_path)  # the intact dataset loads
    damage(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_source_dataset(block, source_root=tmp_path)


def test_unknown_test_case_is_named(tmp_path: Path, oblique_geometry: ImageGeometry) -> None:
    block = make_dataset(tmp_path, oblique_geometry) | {"test_cases": ["case2", "case9"]}
    with pytest.raises(ValueError, match=r"test_cases entries case9 do not exist in the dataset \(3 cases: case0, "
                                         r"case1, case2\); fix the case ids under test_cases"):
        load_source_dataset(block, source_root=tmp_path)


def test_absent_names_are_allowed_and_order_follows_the_fullest_case(tmp_path: Path,
                                                                      oblique_geometry: ImageGeometry) -> None:
    block = make_dataset(tmp_path, oblique_geometry)
    replace_landmarks(tmp_path, CSV_HEADER + "left_eye,,,,0\n", ".csv")
    (tmp_path / "landmarks" / "case0.json").rename(tmp_path / "landmarks" / "case0.json.bak")
    (tmp_path / "landmarks" / "case0.csv").write_text(CSV_HEADER + "sella,,,,0\n")
    source = load_source_dataset(block, source_root=tmp_path)
    assert source.names == NAMES  # from case2, the case listing the most landmarks
    assert not source.cases[0].landmarks.present.any()


def test_trainable_warns_of_empty_training_cases_and_rare_names(caplog: pytest.LogCaptureFixture) -> None:
    from nnlandmark.datasets.checks import check_trainable

    names = ("a", "b")
    points = np.zeros((2, 3)) + 5.0
    sets = {"c0": LandmarkSet(names, points, [True, False]), "c1": LandmarkSet(names, points, [True, False]),
            "c2": LandmarkSet(names, points, [False, False]), "c3": LandmarkSet(names, points, [True, True])}
    with caplog.at_level("WARNING"):
        check_trainable(sets, names)
    text = caplog.text
    assert "1 training case(s) have every landmark absent: c2" in text
    assert "b is present in only 1 of 4 training cases (absent in c0, c1, c2)" in text
    assert "landmark_names" in text
