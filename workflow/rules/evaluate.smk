# Stage 5: radial errors in mm, summary tables and plots (report captions in workflow/report/).


rule evaluate_predictions:
    input:
        model=rules.predict_test.output.predictions,
        baseline=rules.predict_baseline.output.predictions,
        manifest=rules.convert_dataset.output.manifest,
        plans=rules.plan_experiment.output.plans,
        folds=fold_sentinels,
    output:
        errors=report(
            f"{RESULTS}/{{dataset}}/tables/errors.csv",
            caption="../report/errors.rst",
            category="Accuracy",
            subcategory="{dataset}",
            labels={"table": "radial errors (every case and landmark)", "format": "CSV"},
        ),
        summary=report(
            f"{RESULTS}/{{dataset}}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Accuracy",
            subcategory="{dataset}",
            labels={"table": "summary (no confidence intervals)", "format": "CSV"},
        ),
        per_landmark=report(
            f"{RESULTS}/{{dataset}}/tables/per_landmark.csv",
            caption="../report/per_landmark.rst",
            category="Per landmark",
            subcategory="{dataset}",
            labels={"table": "per landmark (no confidence intervals)", "format": "CSV"},
        ),
        folds=report(
            f"{RESULTS}/{{dataset}}/tables/folds.csv",
            caption="../report/folds.rst",
            category="Accuracy",
            subcategory="{dataset}",
            labels={"table": "each fold's whole-case validation", "format": "CSV"},
        ),
    log:
        "logs/evaluate_predictions/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        model_dir=lambda wc: model_dir(wc.dataset),
        sdr_thresholds_mm=config["evaluation"]["sdr_thresholds_mm"],
        gross_error_mm=config["evaluation"].get("gross_error_mm"),
        configuration=config["nnunet"]["configuration"],
        unseen_absent_below=config["predict"].get("unseen_absent_below"),
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/evaluate_predictions.py"


rule plot_errors:
    input:
        errors=rules.evaluate_predictions.output.errors,
        consensus_errors=f"{RESULTS}/{{dataset}}/tables/interrater_errors.csv",
    output:
        per_landmark=report(
            f"{RESULTS}/{{dataset}}/plots/per_landmark_errors.png",
            caption="../report/per_landmark_errors.rst",
            category="Per landmark",
            subcategory="{dataset}",
            labels={"figure": "error distribution per landmark", "format": "PNG"},
        ),
        per_landmark_svg=report(
            f"{RESULTS}/{{dataset}}/plots/per_landmark_errors.svg",
            caption="../report/per_landmark_errors.rst",
            category="Per landmark",
            subcategory="{dataset}",
            labels={"figure": "error distribution per landmark", "format": "SVG"},
        ),
        cumulative=report(
            f"{RESULTS}/{{dataset}}/plots/cumulative_errors.png",
            caption="../report/cumulative_errors.rst",
            category="Accuracy",
            subcategory="{dataset}",
            labels={"figure": "cumulative error curve", "format": "PNG"},
        ),
        cumulative_svg=report(
            f"{RESULTS}/{{dataset}}/plots/cumulative_errors.svg",
            caption="../report/cumulative_errors.rst",
            category="Accuracy",
            subcategory="{dataset}",
            labels={"figure": "cumulative error curve", "format": "SVG"},
        ),
    log:
        "logs/plot_errors/{dataset}.log",
    params:
        sdr_thresholds_mm=config["evaluation"]["sdr_thresholds_mm"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/plot_errors.py"
