"""Rule plot_errors: per-landmark error distribution and cumulative error curve with the inter-rater curve."""

from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step

INTER_RATER = "inter-rater: annotation vs leave-one-out consensus"


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation import plot_cumulative_errors, plot_per_landmark_errors

    errors = pd.read_csv(smk.input.errors, dtype={"case": str, "landmark": str})
    consensus = pd.read_csv(smk.input.consensus_errors)
    inter_rater = consensus["annotator_error_mm"].dropna().to_numpy(dtype=float)
    plot_per_landmark_errors(errors, [Path(smk.output.per_landmark), Path(smk.output.per_landmark_svg)])
    plot_cumulative_errors(errors, [Path(smk.output.cumulative), Path(smk.output.cumulative_svg)],
                           sdr_thresholds_mm=[float(t) for t in smk.params.sdr_thresholds_mm],
                           extra_curves={INTER_RATER: inter_rater})


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
