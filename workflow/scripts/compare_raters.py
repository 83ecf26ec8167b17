"""Rule compare_raters: rater-vs-rater errors and model vs the leave-one-out consensus, with their tables."""

import json
import logging
from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file

logger = logging.getLogger("compare_raters")


def stem(path: str) -> Path:
    """The output path without its suffix: write_table adds .csv, .md, .tex and .html."""
    return Path(path).with_suffix("")


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.errors import landmark_sets_from_errors
    from nnlandmark.evaluation.interrater import REFERENCE, consensus_errors, pairwise_rater_errors
    from nnlandmark.evaluation.report_tables import (
        write_interrater,
        write_interrater_per_landmark,
        write_rater_pairs,
    )
    from nnlandmark.evaluation.statistics import BootstrapSettings
    from nnlandmark.landmarks import read_landmarks

    manifest = json.loads(Path(smk.input.manifest).read_text())
    raw = Path(smk.params.root) / "nnUNet_raw" / manifest["nnunet_name"]
    errors = pd.read_csv(smk.input.errors, dtype={"case": str, "landmark": str})
    reference = landmark_sets_from_errors(errors, method="model", side="ref")
    model = landmark_sets_from_errors(errors, method="model", side="pred")
    annotations = {REFERENCE: reference}
    for rater in manifest.get("raters", []):
        if rater == REFERENCE:
            raise ValueError(f"a rater may not be called {REFERENCE!r}: that name is the reference annotation")
        files = {case: raw / "raters" / rater / f"{case}.json" for case in reference}
        annotations[rater] = {case: read_landmarks(path).reorder(manifest["landmarks"])
                              for case, path in files.items() if path.is_file()}
        logger.info("rater %s annotated %d of %d test case(s)", rater, len(annotations[rater]), len(reference))
    pairs = pairwise_rater_errors(annotations)
    consensus = consensus_errors(annotations, model)
    pairs.to_csv(smk.output.pair_errors, index=False)
    consensus.to_csv(smk.output.consensus_errors, index=False)
    settings = BootstrapSettings.from_config(smk.params.evaluation)
    dataset = smk.wildcards.dataset
    write_rater_pairs(pairs, stem(smk.output.rater_pairs_csv), dataset=dataset, settings=settings)
    table = write_interrater(consensus, stem(smk.output.interrater_csv), dataset=dataset, settings=settings)
    write_interrater_per_landmark(consensus, pairs, stem(smk.output.interrater_per_landmark_csv), dataset=dataset,
                                  settings=settings)
    if table.empty:
        logger.warning("no test case has two or more annotations: the inter-rater tables are empty")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
