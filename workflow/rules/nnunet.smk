# Stage 2: nnU-Net's own fingerprint -> plan -> preprocess, one rule each.


rule extract_fingerprint:
    input:
        manifest=rules.convert_dataset.output.manifest,
    output:
        fingerprint=f"{RESULTS}/{{dataset}}/nnunet/fingerprint.json",
    log:
        "logs/extract_fingerprint/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        num_processes=config["nnunet"]["num_processes"],
        # intensity statistics from the imaged region, not the landmark blobs: fingerprints of earlier
        # versions (blob statistics) re-run when this changes
        intensity_foreground="imaged-region",
    threads: config["nnunet"]["num_processes"]
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/extract_fingerprint.py"


rule plan_experiment:
    input:
        fingerprint=rules.extract_fingerprint.output.fingerprint,
    output:
        plans=f"{RESULTS}/{{dataset}}/nnunet/plans.json",
    log:
        "logs/plan_experiment/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        manifest=rules.convert_dataset.output.manifest,
        nnunet=config["nnunet"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/plan_experiment.py"


rule preprocess_dataset:
    input:
        plans=rules.plan_experiment.output.plans,
    output:
        done=f"{RESULTS}/{{dataset}}/nnunet/preprocessed.json",
    log:
        "logs/preprocess_dataset/{dataset}.log",
    benchmark:
        "benchmarks/preprocess_dataset/{dataset}.tsv"
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        manifest=rules.convert_dataset.output.manifest,
        nnunet=config["nnunet"],
    threads: config["nnunet"]["num_processes"]
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/preprocess_dataset.py"
