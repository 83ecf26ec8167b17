# Stage 1: source data -> nnU-Net raw dataset (landmarks painted as blobs, exact coordinates beside them).


def source_inputs(wildcards):
    """What conversion reads: the generated demo's manifest, or nothing Snakemake tracks (user folders)."""
    block = dataset_config(wildcards.dataset)
    if block["format"] == "demo":
        return {"manifest": f"resources/{wildcards.dataset}/dataset.json"}
    return {}


rule generate_demo:
    output:
        manifest="resources/{dataset}/dataset.json",
    log:
        "logs/generate_demo/{dataset}.log",
    params:
        block=lambda wc: dataset_config(wc.dataset),
        root=lambda wc: f"resources/{wc.dataset}",
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/generate_demo.py"


rule convert_dataset:
    input:
        unpack(source_inputs),
    output:
        manifest=f"{RESULTS}/{{dataset}}/nnunet/nnUNet_raw/manifest.json",
    log:
        "logs/convert_dataset/{dataset}.log",
    params:
        block=lambda wc: dataset_config(wc.dataset),
        source_root=lambda wc: f"resources/{wc.dataset}",
        raw_root=lambda wc: f"{nnunet_root(wc.dataset)}/nnUNet_raw",
        blob_radius_vox=config["labels"]["blob_radius_vox"],
        num_folds=config["train"]["num_folds"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/convert_dataset.py"
