"""Rule train_fold: train (or resume) one fold of the heatmap model."""

import json
import shutil
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0], echo=False)  # the console gets one progress line per epoch; the log everything
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime, use_nnunet_folders

    train = smk.params.train
    nnunet = smk.params.nnunet
    configure_nnunet_runtime(processes=smk.threads, data_workers=train.get("data_workers"))
    use_nnunet_folders(smk.params.root)
    if train["device"] != "cpu":
        from nnlandmark.training.gpu_slots import claim_gpu

        claim_gpu()  # a GPU of its own for this job, chosen before torch initialises CUDA

    import torch

    from nnlandmark.devices import resolve_device
    from nnlandmark.training.recipe import TrainingRecipe
    from nnlandmark.training.run_fold import train_fold

    torch.set_num_threads(smk.threads)
    manifest = json.loads(Path(smk.params.manifest).read_text())
    fold = int(smk.wildcards.fold)
    fold_dir = train_fold(
        manifest["nnunet_name"],
        fold=fold,
        configuration=nnunet["configuration"],
        plans_name=nnunet["plans_name"],
        recipe=TrainingRecipe.from_config(train),
        device=resolve_device(train["device"], key="train.device"),
        seed=int(train.get("seed", 0)),
    )
    shutil.copyfile(fold_dir / "validation" / "summary.json", smk.output.done)


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
