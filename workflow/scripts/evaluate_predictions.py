"""Rule evaluate_predictions: radial errors per case and landmark, summary and per-landmark tables."""

import json
from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation import collect_errors, per_landmark, summarize
    from nnlandmark.evaluation.summary import fold_table
    from nnlandmark.inference.absence import thresholds_from_validation, unseen_absence_threshold
    from nnlandmark.inference.model_folder import MODEL_INFO
    from nnlandmark.inference.whole_case_validation import gross_error_threshold_mm
    from nnlandmark.landmarks import read_landmarks

    manifest = json.loads(Path(smk.input.manifest).read_text())
    raw = Path(smk.params.root) / "nnUNet_raw" / manifest["nnunet_name"]
    names = manifest["landmarks"]
    references = {c: read_landmarks(raw / "landmarksTs" / f"{c}.json").reorder(names) for c in manifest["test_cases"]}
    tables = []
    for method, folder in (("model", smk.input.model), ("baseline", smk.input.baseline)):
        predictions = {c: read_landmarks(Path(folder) / f"{c}.json") for c in manifest["test_cases"]}
        tables.append(collect_errors(references, predictions, method=method))
    errors = pd.concat(tables, ignore_index=True)
    thresholds = [float(t) for t in smk.params.sdr_thresholds_mm]
    gross_mm = smk.params.gross_error_mm
    if gross_mm is None:  # 10 voxels of the finest target spacing, as in each fold's validation
        plans = json.loads(Path(smk.input.plans).read_text())
        gross_mm = gross_error_threshold_mm(plans["configurations"][smk.params.configuration]["spacing"])
    summary = summarize(errors, sdr_thresholds_mm=thresholds, gross_error_mm=float(gross_mm))
    errors.to_csv(smk.output.errors, index=False)
    summary.to_csv(smk.output.summary, index=False)
    per_landmark(errors).to_csv(smk.output.per_landmark, index=False)
    summaries = {int(Path(p).stem.split("_")[1]): json.loads(Path(p).read_text()) for p in smk.input.folds}
    # each fold read at thresholds chosen as predict_test chooses them, on the other folds' validation only
    # (mirror twins pooled as the model pairs them): no fold is scored at a threshold fitted on its own records
    info = json.loads((Path(smk.params.model_dir) / MODEL_INFO).read_text())
    twins = info.get("mirror_pairs", [])
    unseen = unseen_absence_threshold(info["activation"], smk.params.unseen_absent_below)
    absent_below = {fold: thresholds_from_validation([s for f, s in summaries.items() if f != fold], twins=twins,
                                                     unseen=unseen) for fold in summaries}
    folds = fold_table(summaries, absent_below=absent_below)
    folds.to_csv(smk.output.folds, index=False)
    print(summary.to_string(index=False))
    print(folds.to_string(index=False))


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
