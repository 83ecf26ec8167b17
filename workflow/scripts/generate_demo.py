"""Rule generate_demo: write a deterministic synthetic dataset (the demo, the real-size phantom or the brain)."""

from pathlib import Path

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    from nnlandmark.datasets.brain import generate_brain_dataset
    from nnlandmark.datasets.demo import generate_demo_dataset
    from nnlandmark.datasets.realsize import generate_realsize_dataset

    block = smk.params.block
    phantom = block.get("phantom", "demo")
    counts = {"n_train": int(block["n_train"]), "n_test": int(block["n_test"]), "seed": int(block["seed"])}
    if phantom == "brain":
        generate_brain_dataset(
            Path(smk.params.root),
            **counts,
            spacing_mm=block.get("spacing_mm", 2.5),
            margin_mm=block.get("margin_mm"),
            # Relative to the workflow's working directory, like the benchmarks' downloads (git-ignored).
            template_cache=Path(block.get("template_cache", "resources/brain_template")),
            n_absent=int(block.get("n_absent", 0)),
        )
        return
    generate = generate_realsize_dataset if phantom == "realsize" else generate_demo_dataset
    generate(
        Path(smk.params.root),
        **counts,
        shape=tuple(int(s) for s in block["shape"]),
        n_absent=int(block["n_absent"]),
    )


if __name__ == "__main__":  # nnU-Net's worker processes re-import this module: run only in the main process
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
