"""Write a landmark dataset as an nnU-Net raw dataset: images, blob labels, exact landmarks, splits."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk
from tqdm import tqdm

from nnlandmark.dataset_conversion.blobs import (
    MIN_SEPARATION_VOX,
    BlobShape,
    assign_blob_layers,
    closest_approach_vox,
    estimate_target_spacing,
    paint_layered_blobs,
)
from nnlandmark.dataset_conversion.source_case import SourceCase
from nnlandmark.datasets.checks import check_fold_count, check_test_cases, check_trainable
from nnlandmark.landmarks import ImageGeometry, LandmarkSet, write_landmarks
from nnlandmark.landmarks.orientation import canonical_geometry, canonical_image

log = logging.getLogger(__name__)

FILE_ENDING = ".nii.gz"


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """nnU-Net's folder name, e.g. ``Dataset990_Demo``."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids are 1..999, got {dataset_id}")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"dataset name must be letters, digits and '_', got {name!r}")
    return f"Dataset{dataset_id:03d}_{name}"


def write_nnunet_raw_dataset(
    cases: Sequence[SourceCase],
    *,
    raw_root: Path,
    dataset_id: int,
    name: str,
    landmark_names: Sequence[str],
    test_cases: Sequence[str],
    channel_name: str,
    blob_radius_vox: float = 2.0,
    num_folds: int = 5,
    split_seed: int = 12345,
) -> Path:
    """Convert ``cases`` into ``raw_root/DatasetNNN_Name`` and return that folder.

    Written into a temporary sibling folder and renamed at the end, so an interrupted conversion never
    leaves a folder that looks complete.
    """
    names = tuple(landmark_names)
    by_id = {c.case_id: c for c in cases}
    check_test_cases(test_cases, by_id)
    train_ids = sorted(c for c in by_id if c not in set(test_cases))
    test_ids = sorted(test_cases)
    check_fold_count(len(train_ids), num_folds, n_test=len(test_ids))
    check_trainable({cid: by_id[cid].landmarks for cid in train_ids}, names)
    final = Path(raw_root) / dataset_folder_name(dataset_id, name)

    # images are written in the canonical orientation (axes closest to LPS): nnU-Net learns arrays as stored
    geometries = {cid: canonical_geometry(ImageGeometry.from_file(by_id[cid].image)) for cid in by_id}
    # nnU-Net plans from the training images only, so the target spacing is estimated from them
    target_spacing = estimate_target_spacing([geometries[cid].spacing for cid in train_ids])
    blob = BlobShape(radius_vox=blob_radius_vox, target_spacing=target_spacing)
    layers = blob_layers(names, {cid: by_id[cid].landmarks.reorder(names) for cid in train_ids}, geometries, blob)
    log.info(
        "painting landmark blobs of %.1f voxels at the estimated target spacing (%s) mm: semi-axes (%s) mm",
        blob_radius_vox, _mm(target_spacing), _mm(blob.semi_axes_mm),
    )

    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("imagesTr", "labelsTr", "imagesTs", "landmarksTr", "landmarksTs"):
        (tmp / sub).mkdir(parents=True)

    for cid in tqdm(train_ids + test_ids, desc=f"converting {final.name}", unit="case"):
        case = by_id[cid]
        landmarks = case.landmarks.reorder(names)
        split = "Tr" if cid in train_ids else "Ts"
        image = canonical_image(sitk.Cast(sitk.ReadImage(str(case.image)), sitk.sitkFloat32))
        sitk.WriteImage(image, str(tmp / f"images{split}" / f"{cid}_0000{FILE_ENDING}"), useCompression=True)
        write_landmarks(tmp / f"landmarks{split}" / f"{cid}.json", landmarks)
        for rater, rater_set in case.raters.items():
            (tmp / "raters" / rater).mkdir(parents=True, exist_ok=True)
            write_landmarks(tmp / "raters" / rater / f"{cid}.json", rater_set.reorder(names))
        if split == "Tr":
            # nnU-Net's raw label map holds one layer; the workflow's preprocessing paints every layer again
            # on the target grid (preprocessing/exact_blobs.py)
            painted = paint_layered_blobs(geometries[cid], landmarks, shape=blob, layers=layers, case_id=cid)
            labels = sitk.GetImageFromArray(painted[0])
            labels.CopyInformation(image)
            sitk.WriteImage(labels, str(tmp / "labelsTr" / f"{cid}{FILE_ENDING}"), useCompression=True)

    dataset_json = {
        "channel_names": {"0": channel_name},
        "labels": {"background": 0, **{n: i for i, n in enumerate(names, start=1)}},
        "numTraining": len(train_ids),
        "file_ending": FILE_ENDING,
        "name": name,
        "landmarks": list(names),
        "test_cases": test_ids,
        "blob_radius_vox": blob_radius_vox,
        "blob_target_spacing_mm": list(target_spacing),
        "blob_semi_axes_mm": list(blob.semi_axes_mm),
        "blob_layers": layers,
        "description": "landmarks painted as label blobs; exact LPS mm positions in landmarksTr/ and landmarksTs/",
    }
    (tmp / "dataset.json").write_text(json.dumps(dataset_json, indent=2))
    (tmp / "splits_final.json").write_text(json.dumps(crossval_splits(train_ids, num_folds, split_seed), indent=2))

    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    log.info("wrote %s: %d training and %d test cases", final, len(train_ids), len(test_ids))
    return final


def blob_layers(
    names: Sequence[str], landmarks: dict[str, LandmarkSet], geometries: dict[str, ImageGeometry], blob: BlobShape
) -> list[int]:
    """The label layer of each landmark: landmarks that come closer than 2 target voxels in a training case
    are painted into different layers (logged once, with those pairs)."""
    closest = closest_approach_vox(landmarks, geometries, shape=blob)
    layers = assign_blob_layers(closest)
    if max(layers, default=0) > 0:
        pairs = [f"{names[i]} / {names[j]} ({closest[i, j]:.2f} voxels)"
                 for i in range(len(names)) for j in range(i + 1, len(names)) if closest[i, j] < MIN_SEPARATION_VOX]
        log.info("%d label layers: landmarks closer than %g target voxels in some training case are painted into "
                 "different layers: %s", max(layers) + 1, MIN_SEPARATION_VOX, ", ".join(pairs))
    return layers


def _mm(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def crossval_splits(train_ids: Sequence[str], num_folds: int, seed: int) -> list[dict[str, list[str]]]:
    """nnU-Net's own seeded k-fold split of the training cases."""
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    return generate_crossval_split(sorted(train_ids), seed=seed, n_splits=num_folds)
