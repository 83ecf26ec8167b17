"""Rule tabulate_paper: accuracy and inter-rater tables across datasets, published references beside."""

from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.report_tables import write_paper_accuracy, write_paper_interrater

    datasets = list(smk.params.datasets)
    accuracy = {d: pd.read_csv(p) for d, p in zip(datasets, smk.input.accuracy)}
    interrater = {d: pd.read_csv(p, dtype={"annotator": str}) for d, p in zip(datasets, smk.input.interrater)}
    published = dict(smk.params.published)
    thresholds = [float(t) for t in smk.params.evaluation["sdr_thresholds_mm"]]
    table = write_paper_accuracy(accuracy, published, Path(smk.output.accuracy_csv).with_suffix(""),
                                 thresholds=thresholds)
    write_paper_interrater(interrater, published, Path(smk.output.interrater_csv).with_suffix(""))
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
