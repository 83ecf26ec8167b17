"""Intensity statistics for normalisation come from the imaged region, not from the landmark blobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

SHAPE = (32, 32, 32)
N_CASES = 3
CT_ID, MRI_ID = 991, 992


def ellipsoid(radii: tuple[float, float, float], centre: np.ndarray) -> np.ndarray:
    grid = np.indices(SHAPE, dtype=float)
    return sum(((grid[a] - centre[a]) / radii[a]) ** 2 for a in range(3)) <= 1.0


def landmark_blobs(inside: np.ndarray, rng: np.random.Generator, *, n: int = 3, radius: float = 2.0) -> np.ndarray:
    """``n`` balls labelled 1..n around random voxels of ``inside``, as the conversion paints landmarks."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    candidates = np.argwhere(inside)
    for label, centre in enumerate(candidates[rng.choice(len(candidates), n, replace=False)], start=1):
        labels[ellipsoid((radius,) * 3, centre)] = label
    return labels


def ct_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, landmark blobs and imaged region of a CT: air (-1000 HU) around soft tissue (40 +- 20) in a bone
    shell (1000 +- 50), landmarks in the tissue. Air is not 0, so the imaged region is every voxel."""
    centre = np.array(SHAPE) / 2 - 0.5 + rng.uniform(-1, 1, 3)
    tissue = ellipsoid((12, 11, 10), centre)
    bone = ellipsoid((14, 13, 12), centre) & ~tissue
    image = rng.normal(-1000, 10, SHAPE)
    image[tissue] = rng.normal(40, 20, tissue.sum())
    image[bone] = rng.normal(1000, 50, bone.sum())
    return image.astype(np.float32), landmark_blobs(ellipsoid((9, 8, 7), centre), rng), np.ones(SHAPE, bool)


def mri_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same for an MRI: a positive head (300 +- 50), the imaged region, in a zero background."""
    centre = np.array(SHAPE) / 2 - 0.5 + rng.uniform(-1, 1, 3)
    head = ellipsoid((10, 9, 8), centre)
    image = np.zeros(SHAPE, dtype=np.float32)
    image[head] = np.clip(rng.normal(300, 50, head.sum()), 1, None)
    return image, landmark_blobs(ellipsoid((7, 6, 5), centre), rng), head


def write_raw_dataset(raw: Path, dataset_id: int, channel: str, cases: list[tuple[np.ndarray, ...]]) -> Path:
    folder = raw / f"Dataset{dataset_id}_Toy{channel}"
    for sub in ("imagesTr", "labelsTr"):
        (folder / sub).mkdir(parents=True)
    for n, (image, labels, _) in enumerate(cases):
        for array, path in ((image, f"imagesTr/case{n}_0000.nii.gz"), (labels, f"labelsTr/case{n}.nii.gz")):
            itk = sitk.GetImageFromArray(array)
            itk.SetSpacing((0.8, 0.8, 2.0))
            sitk.WriteImage(itk, str(folder / path))
    dataset = {"channel_names": {"0": channel}, "labels": {"background": 0, "a": 1, "b": 2, "c": 3},
               "numTraining": len(cases), "file_ending": ".nii.gz"}
    (folder / "dataset.json").write_text(json.dumps(dataset))
    return folder


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two raw datasets of three cases each: CT, and MRI with a zero background."""
    root = tmp_path_factory.mktemp("nnunet")
    rng = np.random.default_rng(7)
    cases = {CT_ID: [ct_case(rng) for _ in range(N_CASES)], MRI_ID: [mri_case(rng) for _ in range(N_CASES)]}
    folders = {CT_ID: write_raw_dataset(root / "nnUNet_raw", CT_ID, "CT", cases[CT_ID]),
               MRI_ID: write_raw_dataset(root / "nnUNet_raw", MRI_ID, "MRI", cases[MRI_ID])}
    return {"root": root, "cases": cases, "folders": folders}


def analyze(extractor: type, folder: Path, n: int) -> tuple[Any, ...]:
    """Case ``n`` by ``extractor``: shape after crop, spacing, samples, statistics, relative size."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    image, label = folder / "imagesTr" / f"case{n}_0000.nii.gz", folder / "labelsTr" / f"case{n}.nii.gz"
    return extractor.analyze_case([str(image)], str(label), SimpleITKIO, num_samples=100)


def collect_stats(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """What nnU-Net's fingerprint reports for ``image`` if ``mask`` were its segmentation."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    return DatasetFingerprintExtractor.collect_foreground_intensities(
        mask[None].astype(np.uint8), image[None], num_samples=100)[1][0]


WINDOW = ("percentile_00_5", "percentile_99_5", "mean", "median", "min", "max")


@pytest.mark.parametrize("dataset_id", [CT_ID, MRI_ID])
def test_case_statistics_come_from_the_imaged_region(toy: dict[str, Any], dataset_id: int) -> None:
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    from nnlandmark.experiment_planning.fingerprint import ImagedRegionFingerprintExtractor

    for n, (image, labels, region) in enumerate(toy["cases"][dataset_id]):
        ours = analyze(ImagedRegionFingerprintExtractor, toy["folders"][dataset_id], n)
        stock = analyze(DatasetFingerprintExtractor, toy["folders"][dataset_id], n)
        ours_stats, stock_stats = ({k: fingerprint[3][0][k] for k in WINDOW} for fingerprint in (ours, stock))
        assert ours_stats == pytest.approx(collect_stats(image, region), rel=1e-6)
        assert stock_stats == pytest.approx(collect_stats(image, labels > 0), rel=1e-6)
        # cropping, spacing and relative size (which decides use_mask_for_norm) are nnU-Net's
        assert (ours[0], ours[1], ours[4]) == (stock[0], stock[1], stock[4])
        if dataset_id == CT_ID:  # nnU-Net's window is the tissue under the blobs: it would clip air and bone
            assert stock_stats["percentile_00_5"] > -100 and stock_stats["percentile_99_5"] < 200
            assert ours_stats["percentile_00_5"] < -1000 and ours_stats["percentile_99_5"] > 1000


STAGE = textwrap.dedent("""
    import json, sys
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, extract_fingerprint
    configure_nnunet_runtime(processes=1)
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    fingerprint = json.loads(extract_fingerprint(int(sys.argv[1]), num_processes=1).read_text())
    planner = ExperimentPlanner(int(sys.argv[1]))
    normalisation = planner.determine_normalization_scheme_and_whether_mask_is_used_for_norm()
    print("RESULT" + json.dumps([fingerprint, normalisation]))
""")


def run_in_fresh_process(script: str, toy: dict[str, Any], dataset_id: int) -> Any:
    """``script``'s RESULT line, run with the toy's nnU-Net folders in a fresh process (``nnunetv2.paths`` reads
    the folders once, on import)."""
    folders = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
    env = {**os.environ, **{k: str(toy["root"] / k) for k in folders}}
    done = subprocess.run([sys.executable, "-c", script, str(dataset_id)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT", 1)[1])


def test_stage_plans_ct_normalisation_over_the_whole_scan(toy: dict[str, Any]) -> None:
    """The stage end to end."""
    fingerprint, (schemes, use_mask) = run_in_fresh_process(STAGE, toy, CT_ID)
    assert (schemes, use_mask) == (["CTNormalization"], [False])
    # nnU-Net pools 10^8 samples drawn with replacement, equally many per case: the statistics of all voxels
    voxels = np.concatenate([image.ravel() for image, *_ in toy["cases"][CT_ID]])
    props = fingerprint["foreground_intensity_properties_per_channel"]["0"]
    low, high = np.percentile(voxels, (0.5, 99.5))
    assert (props["percentile_00_5"], props["percentile_99_5"]) == pytest.approx((low, high), abs=0.5)
    assert (props["mean"], props["std"]) == pytest.approx((voxels.mean(), voxels.std()), rel=1e-3)
    assert low < -1000 and high > 1000  # air, soft tissue and bone stay apart after clipping


def test_use_mask_for_norm_for_a_zero_background(toy: dict[str, Any]) -> None:
    """Cropping to the nonzero head shrinks the MRI below 3/4, so nnU-Net z-scores inside the head only."""
    from types import SimpleNamespace

    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    from nnlandmark.experiment_planning.fingerprint import ImagedRegionFingerprintExtractor

    sizes = [analyze(ImagedRegionFingerprintExtractor, toy["folders"][MRI_ID], n)[4] for n in range(N_CASES)]
    median_size = float(np.median(sizes))
    planner = SimpleNamespace(dataset_json={"channel_names": {"0": "MRI"}},  # all that this decision reads
                              dataset_fingerprint={"median_relative_size_after_cropping": median_size})
    decide = ExperimentPlanner.determine_normalization_scheme_and_whether_mask_is_used_for_norm
    schemes, use_mask = decide(planner)
    assert (schemes, use_mask) == (["ZScoreNormalization"], [True])


def test_zscore_mask_is_the_head_not_the_blobs(toy: dict[str, Any]) -> None:
    """With ``use_mask_for_norm`` nnU-Net z-scores over ``seg >= 0`` after cropping: the nonzero region.

    Blob voxels count too, but add only where a blob sticks out of the nonzero region (none do here).
    """
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import ZScoreNormalization

    image, labels, head = toy["cases"][MRI_ID][0]
    data, seg, bbox = crop_to_nonzero(image[None].copy(), labels[None].astype(np.int8))
    inside = tuple(slice(lo, hi) for lo, hi in bbox)
    region = head[inside] | (labels[inside] > 0)
    np.testing.assert_array_equal(seg[0] >= 0, region)
    normalised = ZScoreNormalization(use_mask_for_norm=True, intensityproperties={}).run(data[0], seg[0])
    assert normalised[region].mean() == pytest.approx(0, abs=1e-4)
    assert normalised[region].std() == pytest.approx(1, abs=1e-4)
    assert np.all(normalised[~region] == 0)


PLAN = textwrap.dedent("""
    import json, sys
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, extract_fingerprint, plan_experiment
    configure_nnunet_runtime(processes=1, data_workers=0)  # what CPU training sets, perhaps left in the shell
    extract_fingerprint(int(sys.argv[1]), num_processes=1)
    plans = plan_experiment(int(sys.argv[1]), planner="ExperimentPlanner", configuration="3d_fullres")
    import os
    print("RESULT" + json.dumps([plans.name, os.environ["nnUNet_n_proc_DA"]]))
""")


def test_planning_runs_with_no_data_workers_set(toy: dict[str, Any]) -> None:
    """nnU-Net's planner sets torch's threads from nnUNet_n_proc_DA; the stage plans with 0 there and restores it."""
    plans_name, workers = run_in_fresh_process(PLAN, toy, MRI_ID)
    assert (plans_name, workers) == ("nnUNetPlans.json", "0")
