"""Rule tabulate_accuracy: accuracy per method and per landmark, with bootstrap confidence intervals."""

from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.report_tables import write_accuracy, write_per_landmark
    from nnlandmark.evaluation.statistics import BootstrapSettings

    errors = pd.read_csv(smk.input.errors, dtype={"case": str, "landmark": str})
    settings = BootstrapSettings.from_config(smk.params.evaluation)
    dataset = smk.wildcards.dataset
    thresholds = [float(t) for t in smk.params.evaluation["sdr_thresholds_mm"]]
    table = write_accuracy(errors, Path(smk.output.accuracy_csv).with_suffix(""), dataset=dataset,
                           thresholds=thresholds, settings=settings)
    write_per_landmark(errors, Path(smk.output.per_landmark_accuracy_csv).with_suffix(""), dataset=dataset,
                       settings=settings)
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
