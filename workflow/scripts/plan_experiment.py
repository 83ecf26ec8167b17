"""Rule plan_experiment: nnU-Net's experiment planner, plus the config's plan overrides."""

import json
import shutil
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.experiment_planning.stages import (
        configure_nnunet_runtime,
        plan_experiment,
        use_nnunet_folders,
    )

    nnunet = smk.params.nnunet
    configure_nnunet_runtime(processes=nnunet["num_processes"])
    use_nnunet_folders(smk.params.root)
    manifest = json.loads(Path(smk.params.manifest).read_text())
    plans = plan_experiment(
        manifest["dataset_id"],
        planner=nnunet["planner"],
        configuration=nnunet["configuration"],
        overrides=nnunet.get("plan_overrides") or {},
        gpu_memory_target_gb=nnunet.get("gpu_memory_target_gb"),
    )
    if plans.stem != nnunet["plans_name"]:
        raise ValueError(
            f"planner {nnunet['planner']} wrote {plans.name}, but nnunet.plans_name is {nnunet['plans_name']!r}; "
            f"set nnunet.plans_name: {plans.stem}"
        )
    shutil.copyfile(plans, smk.output.plans)


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
