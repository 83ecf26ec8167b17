"""Rule predict_baseline: the naive mean-position baseline, fitted on the training cases."""

import json
import logging
import shutil
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step

logger = logging.getLogger("predict_baseline")


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.evaluation.baseline import FRAME, MeanPositionBaseline
    from nnlandmark.landmarks import ImageGeometry, read_landmarks, write_landmarks

    manifest = json.loads(Path(smk.input.manifest).read_text())
    raw = Path(smk.params.root) / "nnUNet_raw" / manifest["nnunet_name"]
    training = [
        (read_landmarks(raw / "landmarksTr" / f"{c}.json"), ImageGeometry.from_file(raw / "imagesTr" / f"{c}_0000.nii.gz"))
        for c in manifest["training_cases"]
    ]
    baseline = MeanPositionBaseline().fit(training)
    logger.info("mean landmark positions of %d training case(s) in the %s", baseline.n_cases, FRAME)
    out = Path(smk.output.predictions)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    baseline.to_json(partial / "baseline_model.json")
    for case in manifest["test_cases"]:
        prediction = baseline.predict(ImageGeometry.from_file(raw / "imagesTs" / f"{case}_0000.nii.gz"))
        write_landmarks(partial / f"{case}.json", prediction.reorder(manifest["landmarks"]))
    partial.rename(out)


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
