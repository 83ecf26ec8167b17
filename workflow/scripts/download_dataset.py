"""Rule download_dataset: fetch (or locate) a benchmark dataset's raw files, checked, into resources/."""

import json
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.datasets.acquire import acquire

    manifest = acquire(smk.params.block, Path(smk.params.cache))
    # Written last: the manifest is the rule's only output, so a failed download leaves nothing complete.
    Path(smk.output.manifest).write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
