"""Rule generate_demo: write a deterministic synthetic dataset (the demo, or the real-size phantom)."""

from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.datasets.demo import generate_demo_dataset
    from nnlandmark.datasets.realsize import generate_realsize_dataset

    block = smk.params.block
    generate = (
        generate_realsize_dataset if block.get("phantom", "demo") == "realsize" else generate_demo_dataset
    )
    generate(
        Path(smk.params.root),
        n_train=int(block["n_train"]),
        n_test=int(block["n_test"]),
        seed=int(block["seed"]),
        shape=tuple(int(s) for s in block["shape"]),
        n_absent=int(block["n_absent"]),
    )


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
