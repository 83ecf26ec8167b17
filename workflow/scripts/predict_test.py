"""Rule predict_test: ensembled prediction of the held-out test cases."""

import json
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, use_nnunet_folders

    configure_nnunet_runtime(processes=smk.threads)
    folders = use_nnunet_folders(smk.params.root)
    if smk.params.device != "cpu":
        from nnlandmark.training.gpu_slots import claim_gpu

        claim_gpu()  # a GPU of its own for this job, chosen before torch initialises CUDA

    import torch

    from nnlandmark.devices import resolve_device
    from nnlandmark.inference.absence import (
        has_guided_validation,
        thresholds_from_validation,
        unseen_absence_threshold,
    )
    from nnlandmark.inference.landmark_predictor import load_model, set_absence_threshold
    from nnlandmark.inference.model_folder import MODEL_INFO
    from nnlandmark.inference.predict_folder import images_in_folder, predict_images

    torch.set_num_threads(smk.threads)
    predict = smk.params.predict
    manifest = json.loads(Path(smk.input.manifest).read_text())
    validation = [json.loads(Path(f).read_text()) for f in smk.input.folds]
    model_dir = Path(smk.params.model_dir)
    info = json.loads((model_dir / MODEL_INFO).read_text())
    twins = info.get("mirror_pairs", [])
    unseen = unseen_absence_threshold(info["activation"], predict.get("unseen_absent_below"))
    thresholds = thresholds_from_validation(validation, twins=twins, unseen=unseen)
    print(f"absence threshold chosen on the folds' validation cases: confidence < {thresholds.overall:.4f}")
    for name, value in thresholds.landmarks.items():
        print(f"  {name}'s own (validation showed it absent and present): confidence < {value:.4f}")
    guided = None
    if has_guided_validation(validation):
        guided = thresholds_from_validation(validation, inference="guided", twins=twins, unseen=unseen)
        print(f"guided mode's absence threshold, chosen on its validation confidences: "
              f"confidence < {guided.overall:.4f}")
        for name, value in guided.landmarks.items():
            print(f"  {name}'s own in the guided mode: confidence < {value:.4f}")
    set_absence_threshold(model_dir, thresholds.overall, landmarks=thresholds.landmarks,
                          guided=None if guided is None else guided.overall,
                          guided_landmarks=None if guided is None else guided.landmarks)
    predictor = load_model(
        model_dir,
        folds=smk.params.folds,
        checkpoint=predict["checkpoint"],
        device=resolve_device(smk.params.device, key="train.device"),
        tile_step_size=float(predict["tile_step_size"]),
        inference=predict.get("inference", "full"),
    )
    images = images_in_folder(Path(folders["nnUNet_raw"]) / manifest["nnunet_name"] / "imagesTs")
    predict_images(predictor, images, Path(smk.output.predictions))


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
