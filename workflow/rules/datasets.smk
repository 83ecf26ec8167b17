# Stage 1: source data -> nnU-Net raw dataset (landmarks painted as blobs, exact coordinates beside them).


rule generate_demo:
    output:
        manifest=f"{RESULTS}/{{dataset}}/source/dataset.json",
    log:
        "logs/generate_demo/{dataset}.log",
    params:
        block=lambda wc: dataset_config(wc.dataset),
        root=lambda wc: f"{RESULTS}/{wc.dataset}/source",
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
        source_root=lambda wc: f"{RESULTS}/{wc.dataset}/source",
        raw_root=lambda wc: f"{nnunet_root(wc.dataset)}/nnUNet_raw",
        blob_radius_vox=config["labels"]["blob_radius_vox"],
        num_folds=config["train"]["num_folds"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/convert_dataset.py"
