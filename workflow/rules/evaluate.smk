# Stage 5: radial errors in mm, summary tables and plots.


rule evaluate_predictions:
    input:
        model=rules.predict_test.output.predictions,
        baseline=rules.predict_baseline.output.predictions,
        manifest=rules.convert_dataset.output.manifest,
    output:
        errors=f"{RESULTS}/{{dataset}}/tables/errors.csv",
        summary=f"{RESULTS}/{{dataset}}/tables/summary.csv",
        per_landmark=f"{RESULTS}/{{dataset}}/tables/per_landmark.csv",
    log:
        "logs/evaluate_predictions/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        sdr_thresholds_mm=config["evaluation"]["sdr_thresholds_mm"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/evaluate_predictions.py"


rule plot_errors:
    input:
        errors=rules.evaluate_predictions.output.errors,
    output:
        per_landmark=f"{RESULTS}/{{dataset}}/plots/per_landmark_errors.png",
        cumulative=f"{RESULTS}/{{dataset}}/plots/cumulative_errors.png",
    log:
        "logs/plot_errors/{dataset}.log",
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/plot_errors.py"
