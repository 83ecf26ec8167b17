"""Rule compare_raters: rater-vs-rater errors and model vs the leave-one-out consensus, with their tables.

Config ``evaluation.reference_is_consensus`` (true, false or "auto") says whether the reference is the
raters' mean; if so it is left out of the comparison (see nnlandmark.evaluation.interrater).
"""

import json
import logging
from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step

logger = logging.getLogger("compare_raters")


def stem(path: str) -> Path:
    """The output path without its suffix: write_table adds .csv, .md, .tex and .html."""
    return Path(path).with_suffix("")


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.errors import landmark_sets_from_errors
    from nnlandmark.evaluation.interrater import (
        REFERENCE,
        consensus_errors,
        consensus_rule,
        pairwise_rater_errors,
    )
    from nnlandmark.evaluation.reference_mode import AUTO, resolve_reference_mode
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
    raters = {a: per_case for a, per_case in annotations.items() if a != REFERENCE}
    mode = resolve_reference_mode(smk.params.evaluation.get("reference_is_consensus", AUTO), reference, raters)
    if mode.is_consensus:
        logger.info("reference treated as the raters' consensus (%s): it is left out; each rater is compared "
                    "with the mean of the other raters, and the model with that same point", mode.reason)
    else:
        logger.info("reference treated as an independent annotation (%s): it takes part like a rater", mode.reason)
    logger.info("consensus: %s", consensus_rule(mode.is_consensus))
    pairs = pairwise_rater_errors(annotations, reference_is_consensus=mode.is_consensus)
    consensus = consensus_errors(annotations, model, reference_is_consensus=mode.is_consensus)
    pairs.to_csv(smk.output.pair_errors, index=False)
    consensus.to_csv(smk.output.consensus_errors, index=False)
    settings = BootstrapSettings.from_config(smk.params.evaluation)
    common = {"dataset": smk.wildcards.dataset, "settings": settings, "reference_is_consensus": mode.is_consensus}
    write_rater_pairs(pairs, stem(smk.output.rater_pairs_csv), **common)
    table = write_interrater(consensus, stem(smk.output.interrater_csv), **common)
    write_interrater_per_landmark(consensus, pairs, stem(smk.output.interrater_per_landmark_csv), **common)
    if table.empty:
        logger.warning("no test case has two or more annotations: the inter-rater tables are empty")
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
