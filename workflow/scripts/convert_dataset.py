"""Rule convert_dataset: read the source dataset, check it, and write the nnU-Net raw dataset."""

import json
from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.datasets.sources import load_source_dataset
    from nnlandmark.dataset_conversion.nnunet_raw import write_nnunet_raw_dataset

    params = smk.params
    block = params.block
    source = load_source_dataset(block, source_root=Path(params.source_root))
    folder = write_nnunet_raw_dataset(
        source.cases,
        raw_root=Path(params.raw_root),
        dataset_id=int(block["dataset_id"]),
        name=block["name"],
        landmark_names=source.names,
        test_cases=source.test_cases,
        channel_name=block.get("channel", "image"),
        blob_radius_vox=float(params.blob_radius_vox),
        num_folds=int(params.num_folds),
    )
    manifest = {
        "dataset": smk.wildcards.dataset,
        "dataset_id": int(block["dataset_id"]),
        "nnunet_name": folder.name,
        "landmarks": list(source.names),
        "training_cases": sorted(c.case_id for c in source.cases if c.case_id not in set(source.test_cases)),
        "test_cases": sorted(source.test_cases),
        "raters": sorted({r for c in source.cases for r in c.raters}),
    }
    Path(smk.output.manifest).write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
