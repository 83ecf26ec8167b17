"""nnU-Net's own fingerprint, planning and preprocessing stages, run on a landmark dataset."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PLANNERS = {
    "ExperimentPlanner": (
        "nnunetv2.experiment_planning.experiment_planners.default_experiment_planner",
        "ExperimentPlanner",
    ),
    "nnUNetPlannerResEncM": (
        "nnunetv2.experiment_planning.experiment_planners.residual_unets.residual_encoder_unet_planners",
        "nnUNetPlannerResEncM",
    ),
    "nnUNetPlannerResEncL": (
        "nnunetv2.experiment_planning.experiment_planners.residual_unets.residual_encoder_unet_planners",
        "nnUNetPlannerResEncL",
    ),
}


def use_nnunet_folders(root: Path | str) -> dict[str, str]:
    """Point nnU-Net's three folder variables at ``root/nnUNet_{raw,preprocessed,results}``."""
    root = Path(root).resolve()
    folders = {
        "nnUNet_raw": str(root / "nnUNet_raw"),
        "nnUNet_preprocessed": str(root / "nnUNet_preprocessed"),
        "nnUNet_results": str(root / "nnUNet_results"),
    }
    for key, value in folders.items():
        Path(value).mkdir(parents=True, exist_ok=True)
        os.environ[key] = value
    return folders


def extract_fingerprint(dataset_id: int, *, num_processes: int) -> Path:
    """Run nnU-Net's dataset fingerprint extraction (with its dataset-integrity check).

    Intensity statistics (CT normalisation's clipping window, mean and std) come from the imaged region, not
    from the landmark blobs nnU-Net would take as foreground: see ``fingerprint.py``.

    The dataset's preprocessed folder is the first thing that depends on a new conversion: what an earlier
    run wrote there (plans, splits, preprocessed cases, maybe of cases that are now held out or gone) is
    cleared first, so later stages never mix it with the new data. nnU-Net's planner would otherwise stop
    on the old ``splits_final.json``.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    from nnlandmark.experiment_planning.fingerprint import ImagedRegionFingerprintExtractor

    name = convert_id_to_dataset_name(dataset_id)
    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / name
    if preprocessed.is_dir():
        log.info("clearing %s, preprocessed by an earlier run from an earlier conversion", preprocessed)
        shutil.rmtree(preprocessed)
    extract_fingerprint_dataset(dataset_id, ImagedRegionFingerprintExtractor, num_processes=num_processes,
                                check_dataset_integrity=True, clean=True)
    return preprocessed / "dataset_fingerprint.json"


@contextlib.contextmanager
def planner_threads() -> Iterator[None]:
    """``nnUNet_n_proc_DA`` of at least 1 while nnU-Net plans.

    nnU-Net's planner sets torch's thread count from ``nnUNet_n_proc_DA`` (``get_allowed_n_proc_DA``) while it
    sizes networks; the ``0`` that CPU training wants (batches in the training process) would stop planning with
    "set_num_threads expects a positive integer". The variable is restored afterwards.
    """
    before = os.environ.get("nnUNet_n_proc_DA")
    try:
        usable = before is not None and int(before) >= 1
    except ValueError:
        usable = False
    if before is not None and not usable:
        os.environ["nnUNet_n_proc_DA"] = "1"  # only sizes networks there
    try:
        yield
    finally:
        if before is not None:
            os.environ["nnUNet_n_proc_DA"] = before


def plan_experiment(
    dataset_id: int,
    *,
    planner: str,
    configuration: str,
    overrides: Mapping[str, Any] | None = None,
    gpu_memory_target_gb: float | None = None,
) -> Path:
    """Run nnU-Net's planner, then apply our overrides (network width, batch size) to ``configuration``."""
    import importlib

    from nnunetv2.experiment_planning.plan_and_preprocess_api import plan_experiment_dataset
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    if planner not in PLANNERS:
        raise ValueError(f"nnunet.planner must be one of {', '.join(PLANNERS)}; got {planner!r}")
    module, cls = PLANNERS[planner]
    planner_class = getattr(importlib.import_module(module), cls)
    with planner_threads():
        _, plans_name = plan_experiment_dataset(dataset_id, planner_class,
                                                gpu_memory_target_in_gb=gpu_memory_target_gb)
    plans_file = Path(os.environ["nnUNet_preprocessed"]) / convert_id_to_dataset_name(dataset_id) / f"{plans_name}.json"
    plans = json.loads(plans_file.read_text())
    if configuration not in plans["configurations"]:
        from nnlandmark.errors import InputError

        raise InputError(
            f"nnunet.configuration: nnU-Net planned no {configuration!r} configuration for dataset {dataset_id} "
            f"(planned: {', '.join(plans['configurations'])}; it plans 3d_lowres only for images much larger than "
            "its patch); set nnunet.configuration to one of those"
        )
    apply_plan_overrides(plans, configuration, overrides or {})
    plans_file.write_text(json.dumps(plans, indent=2))
    return plans_file


def apply_plan_overrides(plans: dict[str, Any], configuration: str, overrides: Mapping[str, Any]) -> None:
    """Narrower networks or smaller batches for CPU budgets; ``None`` keeps nnU-Net's planned value.

    ``base_features``/``max_features`` set features_per_stage[i] = min(base * 2**i, max).
    """
    conf = plans["configurations"][configuration]
    known = {"base_features", "max_features", "batch_size", "patch_size"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown nnunet.plan_overrides keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    kwargs = conf["architecture"]["arch_kwargs"]
    planned = [int(f) for f in kwargs["features_per_stage"]]
    base = int(overrides.get("base_features") or planned[0])
    cap = int(overrides.get("max_features") or max(planned))
    kwargs["features_per_stage"] = [min(base * 2**i, cap) for i in range(len(planned))]
    if overrides.get("batch_size") is not None:
        conf["batch_size"] = int(overrides["batch_size"])
    if overrides.get("patch_size") is not None:
        conf["patch_size"] = [int(p) for p in overrides["patch_size"]]
    log.info("plans for %s after overrides: patch %s, batch %s, features %s", configuration, conf["patch_size"],
             conf["batch_size"], kwargs["features_per_stage"])


def preprocess(dataset_id: int, *, configuration: str, plans_name: str, num_processes: int) -> Path:
    """nnU-Net's preprocessing of one configuration, blobs painted on the target grid; installs our splits.

    What ``nnUNetv2_preprocess`` does for one configuration, with
    :class:`~nnlandmark.preprocessing.exact_blobs.ExactBlobPreprocessor` in place of the plans' preprocessor
    (nnU-Net's ``DefaultPreprocessor``, which images still go through unchanged).
    """
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    from nnlandmark.preprocessing.exact_blobs import ExactBlobPreprocessor

    name = convert_id_to_dataset_name(dataset_id)
    preprocessor = ExactBlobPreprocessor(verbose=False)
    preprocessor.run(dataset_id, configuration, plans_name, num_processes=num_processes)
    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / name
    raw = Path(os.environ["nnUNet_raw"]) / name
    # as nnU-Net does: the raw label maps beside the preprocessed data (its validation reads them from there)
    dataset_json = json.loads((raw / "dataset.json").read_text())
    gt = preprocessed / "gt_segmentations"
    gt.mkdir(exist_ok=True)
    for case, files in get_filenames_of_train_images_and_targets(str(raw), dataset_json).items():
        shutil.copy2(files["label"], gt / f"{case}{dataset_json['file_ending']}")
    shutil.copyfile(raw / "splits_final.json", preprocessed / "splits_final.json")
    return preprocessed


def configure_nnunet_runtime(*, processes: int, data_workers: int | None = None, compile_network: bool = False) -> None:
    """nnU-Net's process/thread settings; call before the first ``nnunetv2`` import of a process."""
    os.environ["nnUNet_def_n_proc"] = str(max(1, int(processes)))
    os.environ["nnUNet_compile"] = "true" if compile_network else "false"
    if data_workers is not None:
        os.environ["nnUNet_n_proc_DA"] = str(int(data_workers))
