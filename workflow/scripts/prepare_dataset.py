"""Rule prepare_dataset: a downloaded benchmark (MML, AFIDs) -> the own-data folder layout, checked."""

import json
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.datasets.sources import prepare_source

    download = json.loads(Path(smk.input.download).read_text())
    split = smk.input.get("split") or None
    prepare_source(smk.params.block, download, Path(smk.params.root), split=split)


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
