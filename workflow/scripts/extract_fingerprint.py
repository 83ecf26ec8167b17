"""Rule extract_fingerprint: nnU-Net's dataset fingerprint (and its dataset-integrity check)."""

import json
import shutil
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.experiment_planning.stages import (
        configure_nnunet_runtime,
        extract_fingerprint,
        use_nnunet_folders,
    )

    configure_nnunet_runtime(processes=smk.params.num_processes)
    use_nnunet_folders(smk.params.root)
    manifest = json.loads(Path(smk.input.manifest).read_text())
    fingerprint = extract_fingerprint(manifest["dataset_id"], num_processes=smk.params.num_processes)
    shutil.copyfile(fingerprint, smk.output.fingerprint)


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
