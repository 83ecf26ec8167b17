"""Rule plot_errors: per-landmark error distribution and cumulative error curve."""

from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation import plot_cumulative_errors, plot_per_landmark_errors

    errors = pd.read_csv(smk.input.errors, dtype={"case": str, "landmark": str})
    plot_per_landmark_errors(errors, Path(smk.output.per_landmark))
    plot_cumulative_errors(errors, Path(smk.output.cumulative))


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    main(snakemake)  # noqa: F821 - injected by Snakemake
