"""Landmark file formats: round trips, RAS headers, atomic writes and error messages."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.landmarks import LandmarkError, LandmarkSet, read_landmarks, write_landmarks
from nnlandmark.landmarks.mrk_json_io import SCHEMA

SUFFIXES = [".json", ".csv", ".fcsv", ".mrk.json"]
CARRIES_CONFIDENCE = {".json", ".csv"}
CARRIES_ABSENT = {".json", ".csv", ".mrk.json"}  # .fcsv leaves absent landmarks out


@pytest.fixture
def landmarks() -> LandmarkSet:
    points = {
        "Nasion": (12.345678901234, -98.7654321, 1e-7),
        "Sella": None,
        "Gonion, left": (-0.1, 250.5, -1234.000001),
        'Menton "Me"': (3.0, 4.0, 5.0),
    }
    return LandmarkSet.from_points(points).with_confidence([0.93, 0.12, np.nan, 0.5])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip(tmp_path: Path, landmarks: LandmarkSet, suffix: str) -> None:
    path = tmp_path / f"case{suffix}"
    write_landmarks(path, landmarks)
    back = read_landmarks(path)
    if suffix not in CARRIES_ABSENT:
        assert "Sella" not in back.names
        back = back.reorder(landmarks.names)
    assert back.names == landmarks.names
    assert back.allclose(landmarks, atol=1e-6)
    assert np.array_equal(back.present, [True, False, True, True])
    if suffix in CARRIES_CONFIDENCE:
        np.testing.assert_allclose(back.confidence, landmarks.confidence, atol=1e-12, equal_nan=True)
    assert sorted(os.listdir(tmp_path)) == [path.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_is_atomic(tmp_path: Path, landmarks: LandmarkSet, suffix: str, monkeypatch) -> None:
    path = tmp_path / f"case{suffix}"
    path.write_text("old content", encoding="utf-8")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_landmarks(path, landmarks)
    assert path.read_text(encoding="utf-8") == "old content"
    assert os.listdir(tmp_path) == [path.name]


def test_json_layout(landmarks: LandmarkSet, tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    write_landmarks(path, landmarks)
    doc = json.loads(path.read_text())
    assert doc["coordinate_system"] == "LPS" and doc["units"] == "mm"
    assert doc["landmarks"][0] == {
        "name": "Nasion",
        "position": [12.345678901234, -98.7654321, 1e-7],
        "present": True,
        "confidence": 0.93,
    }
    assert doc["landmarks"][1]["position"] is None and doc["landmarks"][1]["present"] is False
    write_landmarks(path, LandmarkSet.from_points({"A": (1, 2, 3)}))
    assert "confidence" not in json.loads(path.read_text())["landmarks"][0]


def test_csv_layout(tmp_path: Path) -> None:
    path = tmp_path / "case.csv"
    write_landmarks(path, LandmarkSet.from_points({"A": (1.5, 2, 3), "B": None}))
    assert path.read_text().splitlines() == ["name,x,y,z,present", "A,1.5,2.0,3.0,1", "B,,,,0"]


def test_mrk_json_layout(tmp_path: Path) -> None:
    """What Slicer 5 needs: the schema URL, LPS, float coordinates, undefined absent points."""
    path = tmp_path / "case.mrk.json"
    write_landmarks(path, LandmarkSet.from_points({"A": (1, 2, 3), "B": None}))
    doc = json.loads(path.read_text())
    assert doc["@schema"] == SCHEMA and SCHEMA.endswith("markups-schema-v1.0.3.json#")
    (markup,) = doc["markups"]
    assert markup["type"] == "Fiducial" and markup["coordinateSystem"] == "LPS"
    a, b = markup["controlPoints"]
    assert a["label"] == "A" and a["position"] == [1.0, 2.0, 3.0] and a["positionStatus"] == "defined"
    assert b["label"] == "B" and b["position"] == [0.0, 0.0, 0.0] and b["positionStatus"] == "undefined"
    # Slicer's reader accepts only JSON doubles, never integers, for positions and orientations.
    for cp in (a, b):
        assert all(isinstance(v, float) for v in cp["position"] + cp["orientation"])


def test_fcsv_layout(tmp_path: Path) -> None:
    path = tmp_path / "case.fcsv"
    write_landmarks(path, LandmarkSet.from_points({"A": (1.5, 2, 3), "B": None, "C, x": (0, 0, 1)}))
    assert path.read_text().splitlines() == [
        "# Markups fiducial file version = 4.11",
        "# CoordinateSystem = LPS",
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID",
        "1,1.5,2.0,3.0,0,0,0,1,1,1,0,A,,",
        '3,0.0,0.0,1.0,0,0,0,1,1,1,0,"C, x",,',
    ]


FCSV_BODY = (
    "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
    "vtkMRMLMarkupsFiducialNode_1,10.5,-20.25,30,0,0,0,1,1,1,0,AC,anterior commissure,"
    "vtkMRMLScalarVolumeNode1\n"
    "vtkMRMLMarkupsFiducialNode_2,-1,2,-3.5,0,0,0,1,1,1,0,PC,,vtkMRMLScalarVolumeNode1\n"
)
RAS_EXPECTED_LPS = {"AC": (-10.5, 20.25, 30.0), "PC": (1.0, -2.0, -3.5)}


@pytest.mark.parametrize("header", ["# CoordinateSystem = 0", "# CoordinateSystem = RAS"])
def test_fcsv_ras_is_read_as_lps(tmp_path: Path, header: str) -> None:
    path = _write(tmp_path / "afids.fcsv", f"# Markups fiducial file version = 4.10\n{header}\n{FCSV_BODY}")
    got = read_landmarks(path)
    assert got.names == ("AC", "PC")
    np.testing.assert_allclose(got.points, [RAS_EXPECTED_LPS["AC"], RAS_EXPECTED_LPS["PC"]], atol=1e-12)


@pytest.mark.parametrize("header", ["# CoordinateSystem = 1", "# CoordinateSystem = LPS"])
def test_fcsv_lps_is_read_unchanged(tmp_path: Path, header: str) -> None:
    path = _write(tmp_path / "afids.fcsv", f"# Markups fiducial file version = 5.2\n{header}\n{FCSV_BODY}")
    np.testing.assert_allclose(read_landmarks(path).points, [[10.5, -20.25, 30.0], [-1.0, 2.0, -3.5]])


def test_fcsv_without_coordinate_header_is_ras_with_warning(tmp_path: Path, caplog) -> None:
    path = _write(tmp_path / "old.fcsv", f"# Markups fiducial file version = 4.6\n{FCSV_BODY}")
    with caplog.at_level(logging.WARNING, logger="nnlandmark.landmarks.fcsv_io"):
        got = read_landmarks(path)
    assert "assuming RAS" in caplog.text and "old.fcsv" in caplog.text
    np.testing.assert_allclose(got.point("AC"), RAS_EXPECTED_LPS["AC"])


def test_fcsv_columns_are_read_by_name(tmp_path: Path) -> None:
    text = "# CoordinateSystem = LPS\n# columns = label,z,y,x\nA,3,2,1\n"
    np.testing.assert_allclose(read_landmarks(_write(tmp_path / "a.fcsv", text)).point("A"), (1, 2, 3))


def test_fcsv_missing_landmark_becomes_absent_on_reorder(tmp_path: Path) -> None:
    path = _write(tmp_path / "afids.fcsv", f"# CoordinateSystem = LPS\n{FCSV_BODY}")
    got = read_landmarks(path).reorder(["AC", "RC", "PC"])
    assert got.present.tolist() == [True, False, True]


def _mrk(system: str, points: list[dict]) -> str:
    markup = {
        "type": "Fiducial",
        "coordinateSystem": system,
        "coordinateUnits": "mm",
        "controlPoints": points,
    }
    return json.dumps({"@schema": SCHEMA, "markups": [{"type": "Line"}, markup]})


def test_mrk_json_ras_is_read_as_lps(tmp_path: Path) -> None:
    points = [
        {"label": "AC", "position": [10.5, -20.25, 30.0], "positionStatus": "defined"},
        {"label": "PC", "position": [-1.0, 2.0, -3.5]},
        {"label": "RC", "position": "", "positionStatus": "undefined"},
    ]
    got = read_landmarks(_write(tmp_path / "case.mrk.json", _mrk("RAS", points)))
    assert got.names == ("AC", "PC", "RC")
    assert got.present.tolist() == [True, True, False]
    np.testing.assert_allclose(got.points[:2], [RAS_EXPECTED_LPS["AC"], RAS_EXPECTED_LPS["PC"]], atol=1e-12)


@pytest.mark.parametrize(("status", "level"), [("missing", logging.INFO), ("preview", logging.WARNING)])
def test_mrk_json_unplaced_points_are_absent(tmp_path: Path, caplog, status: str, level: int) -> None:
    """Slicer writes "missing" for a skipped point and "preview" for one still being placed: not landmarks."""
    points = [
        {"label": "AC", "position": [10.5, -20.25, 30.0], "positionStatus": "defined"},
        {"label": "PC", "position": [-1.0, 2.0, -3.5], "positionStatus": status},
    ]
    with caplog.at_level(logging.INFO, logger="nnlandmark.landmarks.mrk_json_io"):
        got = read_landmarks(_write(tmp_path / "case.mrk.json", _mrk("LPS", points)))
    assert got.names == ("AC", "PC") and got.present.tolist() == [True, False]
    assert got.point("PC") is None
    [record] = caplog.records
    assert record.levelno == level and "case.mrk.json" in record.message and "'PC'" in record.message
    assert status in record.message


def test_json_ras_is_read_as_lps(tmp_path: Path) -> None:
    doc = {"coordinate_system": "RAS", "landmarks": [{"name": "AC", "position": [10.5, -20.25, 30]}]}
    got = read_landmarks(_write(tmp_path / "case.json", json.dumps(doc)))
    np.testing.assert_allclose(got.point("AC"), RAS_EXPECTED_LPS["AC"])


def test_json_defaults_to_lps(tmp_path: Path) -> None:
    doc = {
        "landmarks": [{"name": "A", "position": [1, 2, 3], "present": True}, {"name": "B", "position": None}]
    }
    got = read_landmarks(_write(tmp_path / "case.json", json.dumps(doc)))
    np.testing.assert_allclose(got.point("A"), (1, 2, 3))
    assert got.present.tolist() == [True, False] and got.confidence is None


# Each case: file name, content, pattern the LandmarkError message must match.
ERRORS = [
    ("bad.fcsv", "# CoordinateSystem = 2\n" + FCSV_BODY, r"bad\.fcsv:1: unknown coordinate system '2'"),
    (
        "bad.fcsv",
        "# x\n# CoordinateSystem = IJK\n",
        r"bad\.fcsv:2: unknown coordinate system 'IJK'.*RAS.*LPS",
    ),
    (
        "bad.fcsv",
        "# CoordinateSystem = LPS\n\n1,2,3,4,0,0,0,1,1,1,0,A,,\n1,2.0,3.0\n",
        r"bad\.fcsv:4: expected 14",
    ),
    ("bad.fcsv", "# CoordinateSystem = LPS\n" + "1,2,3,4,0,0,0,1,1,1,0,A,,,,\n", r"bad\.fcsv:2: expected 14"),
    (
        "bad.fcsv",
        "# CoordinateSystem = 0\n1,2,abc,4,0,0,0,1,1,1,0,A,,\n",
        r"bad\.fcsv:2: expected 3 numeric .*'abc'",
    ),
    ("bad.fcsv", "# CoordinateSystem = 0\n1,nan,3,4,0,0,0,1,1,1,0,A,,\n", r"bad\.fcsv:2: NaN"),
    (
        "bad.fcsv",
        "1,1,2,3,0,0,0,1,1,1,0,A,,\n1,1,2,3,0,0,0,1,1,1,0,A,,\n",
        r"bad\.fcsv:2: duplicate .*'A'.*line 1",
    ),
    ("bad.fcsv", "# columns = id,x,y,z\n", r"bad\.fcsv:1: '# columns' header lacks label"),
    ("bad.csv", "name,x,y,z,present\nA,1,2\n", r"bad\.csv:2: expected 5 columns"),
    ("bad.csv", "name,x,y,z,present\nA,1,2,3,1\nB,1,two,3,1\n", r"bad\.csv:3: expected 3 numeric .*'two'"),
    ("bad.csv", "name,x,y,z,present\nA,1,,3,1\n", r"bad\.csv:2: expected 3 numeric"),
    ("bad.csv", "name,x,y,z,present\nA,1,nan,3,1\n", r"bad\.csv:2: NaN"),
    ("bad.csv", "name,x,y,z,present\nA,1,2,3,1\nA,,,,0\n", r"bad\.csv:3: duplicate .*'A'"),
    ("bad.csv", "name,x,y,z,present\nA,1,2,3,maybe\n", r"bad\.csv:2: present must be 1 or 0"),
    ("bad.csv", "label,x,y,z\n", r"bad\.csv:1: header .* lacks column\(s\) name"),
    ("bad.json", '{"landmarks": [\n  {"name": "A",}\n]}', r"bad\.json:2: invalid JSON"),
    ("bad.json", '{"landmarks": [{"name": "A", "position": [1, NaN, 3]}]}', r"bad\.json: landmark #1 .*NaN"),
    ("bad.json", '{"landmarks": [{"name": "A", "position": [1, "2", 3]}]}', r"bad\.json: .*3 numeric"),
    (
        "bad.json",
        '{"landmarks": [{"name": "A", "position": null, "present": true}]}',
        r"bad\.json: .*3 numeric",
    ),
    ("bad.json", '{"landmarks": [{"name": "A"}, {"name": "A"}]}', r"bad\.json: landmark #2: duplicate .*'A'"),
    (
        "bad.json",
        '{"coordinate_system": "IJK", "landmarks": []}',
        r"bad\.json: unknown \"coordinate_system\"",
    ),
    ("bad.mrk.json", '{"@schema": "x",\n"markups": [}', r"bad\.mrk\.json:2: invalid JSON"),
    ("bad.mrk.json", _mrk("IJK", []), r"bad\.mrk\.json: unknown coordinateSystem 'IJK'"),
    ("bad.mrk.json", _mrk("LPS", [{"label": "A", "position": [1, 2, 3]}] * 2), r"#2: duplicate .*'A'"),
    ("bad.mrk.json", _mrk("LPS", [{"label": "A", "position": [1, float("nan"), 3]}]), r"#1 \('A'\): NaN"),
    ("bad.mrk.json", _mrk("LPS", [{"label": "A", "position": [1, 2]}]), r"#1 \('A'\): expected 3 numeric"),
    ("bad.mrk.json", '{"markups": []}', r"bad\.mrk\.json: .*non-empty \"markups\""),
]


@pytest.mark.parametrize(("name", "text", "pattern"), ERRORS)
def test_errors_name_file_line_and_problem(tmp_path: Path, name: str, text: str, pattern: str) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(LandmarkError, match=pattern):
        read_landmarks(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_file(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(LandmarkError, match=re.escape(f"nowhere{suffix}: landmark file does not exist")):
        read_landmarks(tmp_path / f"nowhere{suffix}")


def test_unknown_suffix(tmp_path: Path) -> None:
    pattern = r"unknown landmark file type '\.txt'; supported suffixes: \.mrk\.json, \.json, \.csv, \.fcsv"
    with pytest.raises(LandmarkError, match=pattern):
        read_landmarks(_write(tmp_path / "points.txt", "1 2 3"))
    with pytest.raises(LandmarkError, match="supported suffixes"):
        write_landmarks(tmp_path / "points.txt", LandmarkSet.from_points({"A": (1, 2, 3)}))


def test_write_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LandmarkError, match="folder .* does not exist"):
        write_landmarks(tmp_path / "no" / "case.json", LandmarkSet.from_points({"A": (1, 2, 3)}))


AFIDS_STYLE = """# Markups fiducial file version = 4.10
# CoordinateSystem = 0
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID
vtkMRMLMarkupsFiducialNode_1,0.1,1.5,-4.3,0,0,0,1,1,1,1,1,AC,vtkMRMLScalarVolumeNode1
vtkMRMLMarkupsFiducialNode_2,0.2,-24.8,-2.1,0,0,0,1,1,1,1,2,PC,vtkMRMLScalarVolumeNode1
"""


@pytest.mark.parametrize(("column", "names"), [("auto", ("AC", "PC")), ("desc", ("AC", "PC")), ("label", ("1", "2"))])
def test_fcsv_names_come_from_the_chosen_column(column: str, names: tuple[str, ...]) -> None:
    from nnlandmark.landmarks.fcsv_io import parse_fcsv

    landmarks = parse_fcsv(AFIDS_STYLE, name_column=column)
    assert landmarks.names == names
    assert np.allclose(landmarks.points[0], [-0.1, -1.5, -4.3])  # RAS -> LPS


def test_auto_keeps_readable_labels_and_refuses_an_empty_chosen_column() -> None:
    from nnlandmark.landmarks.fcsv_io import choose_name_column, parse_fcsv

    assert choose_name_column(["nasion", "sella"], ["front", "back"]) == "label"
    assert choose_name_column(["1", "2"], ["AC", ""]) == "label"  # a description missing: keep the labels
    assert choose_name_column(["F", "F"], ["left", "right"]) == "desc"  # repeated labels
    no_desc = AFIDS_STYLE.replace(",AC,", ",,").replace(",PC,", ",,")
    assert parse_fcsv(no_desc, name_column="auto").names == ("1", "2")
    with pytest.raises(LandmarkError, match=r"<string>:4: empty 'desc' column"):
        parse_fcsv(no_desc, name_column="desc")


def test_an_unreadable_landmark_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "case0.json"
    path.write_text('{"landmarks": []}')

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(LandmarkError, match=rf"{path}: cannot read the landmark file \(Permission denied\)"):
        read_landmarks(path)
