# Stage 4: ensembled prediction of the held-out test cases, and the naive baseline beside it.


rule predict_test:
    input:
        folds=fold_sentinels,
        manifest=rules.convert_dataset.output.manifest,
    output:
        predictions=directory(f"{RESULTS}/{{dataset}}/predictions/model"),
    log:
        "logs/predict_test/{dataset}.log",
    benchmark:
        "benchmarks/predict_test/{dataset}.tsv"
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        model_dir=lambda wc: model_dir(wc.dataset),
        folds=config["train"]["folds"],
        predict=config["predict"],
        device=config["train"]["device"],
    threads: config["train"]["threads"]
    resources:
        gpu=1,
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/predict_test.py"


rule predict_baseline:
    input:
        manifest=rules.convert_dataset.output.manifest,
    output:
        predictions=directory(f"{RESULTS}/{{dataset}}/predictions/baseline"),
    log:
        "logs/predict_baseline/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/predict_baseline.py"
