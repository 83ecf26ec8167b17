# Stage 3: five-fold heatmap training. Outputs are sentinel files: the fold's nnU-Net folder with its
# checkpoints is not a declared output, so Snakemake never wipes it and a re-run resumes from checkpoint_latest.


rule train_fold:
    input:
        preprocessed=rules.preprocess_dataset.output.done,
    output:
        done=f"{RESULTS}/{{dataset}}/nnunet/training/fold_{{fold}}.json",
    log:
        "logs/train_fold/{dataset}_fold{fold}.log",
    benchmark:
        "benchmarks/train_fold/{dataset}_fold{fold}.tsv"
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        manifest=rules.convert_dataset.output.manifest,
        nnunet=config["nnunet"],
        train=config["train"],
    threads: config["train"]["threads"]
    resources:
        gpu=1,
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/train_fold.py"
