# Stage 1: source data -> nnU-Net raw dataset (landmarks painted as blobs, exact coordinates beside them).
# Benchmarks (MML, AFIDs): download (or a local `source:`) -> own-data folder -> the same conversion as own data.
import os
import re

# Datasets switched off with `enabled: false` (e.g. the demo under config/paper.yaml) are dropped here,
# before any rule or target reads the config; a relative split file not found from the working directory
# is taken from the repository (config/splits/).
config["datasets"] = {name: block for name, block in config["datasets"].items() if block.get("enabled", True)}
if not config["datasets"]:
    raise ValueError("every dataset in the config has enabled: false; switch at least one on")
for _block in config["datasets"].values():
    if _block.get("split") and not os.path.isabs(_block["split"]) and not os.path.exists(_block["split"]):
        _block["split"] = os.path.join(workflow.basedir, _block["split"])

# Wildcard constraints: exactly the configured datasets of each kind (a pattern matching nothing if none).
DEMO_DATASETS = "|".join(re.escape(n) for n, b in config["datasets"].items() if b["format"] == "demo") or "(?!)"
BENCHMARK_DATASETS = "|".join(
    re.escape(n) for n, b in config["datasets"].items() if b["format"] in ("mml", "mml_complete", "afids")
) or "(?!)"


rule generate_demo:
    output:
        manifest=f"{RESULTS}/{{dataset}}/source/dataset.json",
    log:
        "logs/generate_demo/{dataset}.log",
    params:
        block=lambda wc: dataset_config(wc.dataset),
        root=lambda wc: f"{RESULTS}/{wc.dataset}/source",
    wildcard_constraints:
        dataset=DEMO_DATASETS,
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/generate_demo.py"


rule download_dataset:
    output:
        manifest="resources/{dataset}/download.json",
    log:
        "logs/download_dataset/{dataset}.log",
    benchmark:
        "benchmarks/download_dataset/{dataset}.tsv"
    params:
        block=lambda wc: dataset_config(wc.dataset),
        cache=lambda wc: f"resources/{wc.dataset}",
    wildcard_constraints:
        dataset=BENCHMARK_DATASETS,
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/download_dataset.py"


rule prepare_dataset:
    input:
        download=rules.download_dataset.output.manifest,
        split=lambda wc: dataset_config(wc.dataset).get("split") or [],
    output:
        manifest=f"{RESULTS}/{{dataset}}/source/dataset.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "benchmarks/prepare_dataset/{dataset}.tsv"
    params:
        block=lambda wc: dataset_config(wc.dataset),
        root=lambda wc: f"{RESULTS}/{wc.dataset}/source",
    wildcard_constraints:
        dataset=BENCHMARK_DATASETS,
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule convert_dataset:
    input:
        unpack(source_inputs),
    output:
        manifest=f"{RESULTS}/{{dataset}}/nnunet/nnUNet_raw/manifest.json",
    log:
        "logs/convert_dataset/{dataset}.log",
    params:
        block=lambda wc: dataset_config(wc.dataset),
        source_root=lambda wc: f"{RESULTS}/{wc.dataset}/source",
        source_fingerprint=source_fingerprint,
        raw_root=lambda wc: f"{nnunet_root(wc.dataset)}/nnUNet_raw",
        blob_radius_vox=config["labels"]["blob_radius_vox"],
        num_folds=config["train"]["num_folds"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/convert_dataset.py"
