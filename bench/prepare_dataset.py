"""Prepare the small preprocessed dataset the training benchmark runs on: the demo, through nnU-Net's stages.

Usage: python bench/prepare_dataset.py [--work DIR]   (idempotent: a finished dataset is reused)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from common import WORK, say

DATASET_ID = 991
DATASET_NAME = "BenchDemo"
CONFIGURATION = "3d_fullres"
# the demo config's CPU budget (config/config.yaml), except batch size 2 as in nnU-Net's own plans
CPU_OVERRIDES = {"base_features": 16, "max_features": 160, "batch_size": 2}


@dataclass(frozen=True)
class PreparedDataset:
    """An nnU-Net root (raw / preprocessed / results) holding one preprocessed landmark dataset."""

    root: Path
    name: str
    plans_name: str
    configuration: str

    @property
    def preprocessed(self) -> Path:
        return self.root / "nnUNet_preprocessed" / self.name

    def plans(self) -> dict:
        """nnU-Net's planned network (no overrides); apply ``CPU_OVERRIDES`` in memory for CPU runs."""
        return json.loads((self.preprocessed / f"{self.plans_name}.json").read_text())

    def dataset_json(self) -> dict:
        return json.loads((self.preprocessed / "dataset.json").read_text())


def prepare(work: Path = WORK, *, processes: int = 2) -> PreparedDataset:
    """Generate the demo (10 training cases), convert it, fingerprint, plan and preprocess it once."""
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, use_nnunet_folders

    configure_nnunet_runtime(processes=processes)
    root = Path(work) / "nnunet"
    use_nnunet_folders(root)
    name = f"Dataset{DATASET_ID:03d}_{DATASET_NAME}"
    prepared = PreparedDataset(root, name, "nnUNetPlans", CONFIGURATION)
    done = root / "prepared.json"
    if done.is_file():
        return prepared

    from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset
    from nnlandmark.datasets.demo import generate_demo_dataset
    from nnlandmark.datasets.sources import load_source_dataset
    from nnlandmark.experiment_planning.stages import extract_fingerprint, plan_experiment, preprocess

    source_root = Path(work) / "source"
    say(f"preparing the benchmark dataset under {work} (demo -> nnU-Net raw -> fingerprint -> plan -> preprocess)")
    generate_demo_dataset(source_root, n_train=10, n_test=1, seed=0, n_absent=0)
    source = load_source_dataset({"format": "demo"}, source_root=source_root)
    write_nnunet_raw_dataset(source.cases, raw_root=root / "nnUNet_raw", dataset_id=DATASET_ID, name=DATASET_NAME,
                             landmark_names=source.names, test_cases=source.test_cases, channel_name="synthetic")
    extract_fingerprint(DATASET_ID, num_processes=processes)
    # the planner calls torch.set_num_threads(nnUNet_n_proc_DA), which fails for the 0 workers we train with
    workers = os.environ.pop("nnUNet_n_proc_DA", None)
    try:
        plan_experiment(DATASET_ID, planner="ExperimentPlanner", configuration=CONFIGURATION)
    finally:
        if workers is not None:
            os.environ["nnUNet_n_proc_DA"] = workers
    preprocess(DATASET_ID, configuration=CONFIGURATION, plans_name=prepared.plans_name, num_processes=processes)
    done.write_text(json.dumps({"dataset": name, "landmarks": list(source.names)}, indent=2))
    return prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    prepared = prepare(args.work)
    say(f"prepared {prepared.preprocessed}")


if __name__ == "__main__":
    main()
