"""Rule plot_interrater: annotations and model against the same consensus, with confidence intervals."""

from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.figure_io import message_figure
    from nnlandmark.evaluation.rater_plots import plot_model_vs_raters
    from nnlandmark.evaluation.statistics import BootstrapSettings

    paths = [Path(smk.output.png), Path(smk.output.svg)]
    by_annotator = pd.read_csv(smk.input.interrater, dtype={"annotator": str})
    by_landmark = pd.read_csv(smk.input.per_landmark, dtype={"landmark": str})
    if (by_annotator["n_pairs"] > 0).any():
        confidence = BootstrapSettings.from_config(smk.params.evaluation).confidence
        plot_model_vs_raters(by_annotator, by_landmark, paths, confidence=confidence)
    else:
        message_figure(paths, title="Model vs raters",
                       message="No test case has two or more annotations with the model's prediction:\n"
                               "nothing to compare (add raters to the dataset).")


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
