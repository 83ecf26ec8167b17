"""Rule preprocess_dataset: nnU-Net's preprocessing of the planned configuration."""

import json
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.experiment_planning.stages import (
        configure_nnunet_runtime,
        preprocess,
        use_nnunet_folders,
    )

    nnunet = smk.params.nnunet
    configure_nnunet_runtime(processes=nnunet["num_processes"])
    use_nnunet_folders(smk.params.root)
    manifest = json.loads(Path(smk.params.manifest).read_text())
    folder = preprocess(
        manifest["dataset_id"],
        configuration=nnunet["configuration"],
        plans_name=nnunet["plans_name"],
        num_processes=nnunet["num_processes"],
    )
    Path(smk.output.done).write_text(
        json.dumps({"preprocessed": str(folder), "configuration": nnunet["configuration"]}, indent=2)
    )


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
