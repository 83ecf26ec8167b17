"""AFIDs BIDS sources (Slicer 4 RAS .fcsv, ground truth and raters) -> own-data folder; the published split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlandmark.datasets.afids import LANDMARK_NAMES, afid_number, prepare_afids, read_afids, scan_source
from nnlandmark.datasets.checks import DatasetError
from nnlandmark.datasets.sources import load_source_dataset
from nnlandmark.datasets.splits import PaperSplit
from nnlandmark.landmarks import LandmarkError, read_landmarks
from tests.datasets.builders import afids_fcsv, afids_points, write_afids_source, write_afids_subject

REPO = Path(__file__).resolve().parents[2]
SPLIT = REPO / "config" / "splits" / "split_Dataset732_Afids.json"


def test_fiducials_by_number_or_name() -> None:
    assert len(LANDMARK_NAMES) == 32 and LANDMARK_NAMES[0] == "AC" and LANDMARK_NAMES[19] == "splenium of CC"
    assert [afid_number(x) for x in ("1", "32", "AC", "Genu of CC", "splenium", "LOSF", "AFID07", "33", "x")] == [
        1, 32, 1, 19, 20, 32, 7, None, None]


def test_ras_fcsv_is_read_into_lps_with_afid_names(tmp_path: Path) -> None:
    points = afids_points(1)
    path = tmp_path / "a.fcsv"
    path.write_text(afids_fcsv(points))
    landmarks = read_afids(path)
    assert landmarks.names == LANDMARK_NAMES and landmarks.present.all()
    assert np.allclose(landmarks.points, points)
    path.write_text(afids_fcsv(points, system="LPS"))
    assert np.allclose(read_afids(path).points, points)


def test_fiducials_missing_from_a_file_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "a.fcsv"
    path.write_text("\n".join(afids_fcsv(afids_points(1)).splitlines()[:-2]) + "\n")  # no AFID 31, 32
    landmarks = read_afids(path)
    assert landmarks.present.sum() == 30 and not landmarks.present[30:].any()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["1"] * 2 + [str(n) for n in range(3, 33)], r"a.fcsv:5: duplicate landmark name '1'"),
        (["1", "AC"] + [str(n) for n in range(3, 33)], r"a.fcsv: duplicate landmark name: AFID 1 \(AC\)"),
        (["99"] + [str(n) for n in range(2, 33)], r"a.fcsv: unknown AFID label '99'"),
    ],
)
def test_bad_afids_labels_are_named(tmp_path: Path, labels: list[str], message: str) -> None:
    path = tmp_path / "a.fcsv"
    path.write_text(afids_fcsv(afids_points(1), labels=labels))
    with pytest.raises(LandmarkError, match=message):
        read_afids(path)


def test_source_scan_matches_images_and_keeps_every_rater(tmp_path: Path) -> None:
    root = write_afids_source(tmp_path / "SNSX", ["sub-C001", "sub-C002"], entities="{subject}_acq-MP2RAGE_run-01")
    # irregular rater names as in the AFIDs-HCP release, and an image without annotations
    anat = root / "derivatives" / "afids_rater" / "sub-C002" / "anat"
    (anat / "sub-C002_acq-MP2RAGE_run-01_space-T1w_desc-raterGG_afids.fcsv").rename(
        anat / "sub-C002_acq-MP2RAGE_run-01_space-T1w_desc-raterGG-afids.fcsv")
    (anat / "sub-C002_space-T1w_desc_raterAT_afids.fcsv").write_text(afids_fcsv(afids_points(7)))
    (root / "sub-C003" / "anat").mkdir(parents=True)
    (root / "sub-C003" / "anat" / "sub-C003_T1w.nii.gz").write_bytes(b"")
    cases = scan_source(root, "SNSX")
    assert [c.case_id for c in cases] == ["SNSX_sub-C001", "SNSX_sub-C002"]
    assert cases[0].image.name == "sub-C001_acq-MP2RAGE_run-01_T1w.nii.gz"
    assert sorted(cases[1].raters) == ["raterAT", "raterGG"]
    assert cases[1].raters["raterAT"].name == "sub-C002_acq-MP2RAGE_run-01_space-T1w_desc-raterAT_afids.fcsv"


def test_missing_image_for_a_landmark_file_is_named(tmp_path: Path) -> None:
    root = write_afids_source(tmp_path / "LHSCPD", ["sub-093", "sub-106"])
    (root / "sub-106" / "anat" / "sub-106_T1w.nii.gz").unlink()
    with pytest.raises(DatasetError, match=r"missing image for landmark file .*sub-106_space-T1w_desc-groundtruth"
                                           r"_afids.fcsv: expected .*sub-106/anat/sub-106_T1w.nii.gz"):
        scan_source(root, "LHSCPD")


def test_sources_become_one_folder_with_raters(tmp_path: Path) -> None:
    roots = {"LHSCPD": write_afids_source(tmp_path / "LHSCPD", ["sub-087", "sub-093", "sub-103"]),
             "SNSX": write_afids_source(tmp_path / "SNSX", ["sub-C001", "sub-C005"])}
    path = prepare_afids(roots, tmp_path / "source", test_cases=["LHSCPD_sub-093", "SNSX_sub-C005"])
    manifest = json.loads(path.read_text())
    assert manifest["training_cases"] == ["LHSCPD_sub-087", "LHSCPD_sub-103", "SNSX_sub-C001"]
    assert manifest["raters"] == ["raterAT", "raterGG"]
    rater = read_landmarks(tmp_path / "source" / "raters" / "raterAT" / "SNSX_sub-C001.json")
    truth = read_landmarks(tmp_path / "source" / "landmarks" / "SNSX_sub-C001.json")
    assert rater.names == truth.names == LANDMARK_NAMES
    assert 0 < np.abs(rater.points - truth.points).max() < 2.0
    source = load_source_dataset({"format": "afids"}, source_root=tmp_path / "source")
    assert sorted(source.cases[0].raters) == ["raterAT", "raterGG"]
    assert source.test_cases == ("LHSCPD_sub-093", "SNSX_sub-C005")


def test_rater_file_with_foreign_labels_is_named(tmp_path: Path) -> None:
    roots = {"LHSCPD": write_afids_source(tmp_path / "LHSCPD", ["sub-087", "sub-093"])}
    rater = roots["LHSCPD"] / "derivatives/afids_rater/sub-093/anat/sub-093_space-T1w_desc-raterAT_afids.fcsv"
    rater.write_text(afids_fcsv(afids_points(1), labels=["1", "2", "nose"] + [str(n) for n in range(4, 33)]))
    with pytest.raises(LandmarkError, match=r"desc-raterAT_afids.fcsv: unknown AFID label 'nose'"):
        prepare_afids(roots, tmp_path / "source", test_cases=["LHSCPD_sub-093"])
    assert not (tmp_path / "source").exists()


def test_published_split_is_reproduced_case_for_case(tmp_path: Path) -> None:
    published = json.loads(SPLIT.read_text())
    roots = {}
    for source in ("AFIDs-HCP", "AFIDs-OASIS", "LHSCPD", "SNSX"):
        subjects = [c.split("_", 1)[1] for c in published["all"] if c.startswith(source + "_")]
        roots[source] = tmp_path / source
        for seed, subject in enumerate(subjects):
            write_afids_subject(roots[source], subject, seed=seed, raters=("raterAT",))
    manifest = json.loads(prepare_afids(roots, tmp_path / "source", split=PaperSplit.from_file(SPLIT)).read_text())
    assert manifest["training_cases"] == published["imagesTr"] and len(published["imagesTr"]) == 110
    assert manifest["test_cases"] == published["imagesTs"] and len(published["imagesTs"]) == 22


def test_skipped_source_narrows_the_split_and_extra_subjects_are_named(tmp_path: Path) -> None:
    published = json.loads(SPLIT.read_text())
    snsx = [c.split("_", 1)[1] for c in published["all"] if c.startswith("SNSX_")]
    roots = {"SNSX": write_afids_source(tmp_path / "SNSX", snsx)}
    manifest = json.loads(prepare_afids(roots, tmp_path / "source", split=PaperSplit.from_file(SPLIT)).read_text())
    assert manifest["test_cases"] == [c for c in published["imagesTs"] if c.startswith("SNSX_")]
    write_afids_subject(roots["SNSX"], "sub-C099", seed=3)
    with pytest.raises(DatasetError, match=r"AFIDs cases of SNSX do not match the published split .*: 1 cases not "
                                           r"in the split \(SNSX_sub-C099\)"):
        prepare_afids(roots, tmp_path / "other", split=PaperSplit.from_file(SPLIT))
