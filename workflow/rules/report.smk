# Stage 6: benchmark report: accuracy with confidence intervals, inter-rater comparison, qualitative figure,
# paper tables across datasets with published references beside. `snakemake --report results/report.html`
# gathers every output marked report(...) into one self-contained HTML file.


report: "../report/workflow.rst"


include: "report_common.smk"


TABLES = f"{RESULTS}/{{dataset}}/tables"


rule compare_raters:
    input:
        errors=rules.evaluate_predictions.output.errors,
        manifest=rules.convert_dataset.output.manifest,
    output:
        consensus_errors=report(
            f"{TABLES}/interrater_errors.csv",
            caption="../report/interrater_errors.rst",
            category="Inter-rater",
            subcategory="{dataset}",
            labels={"name": "annotation and model vs consensus (every row)", "format": "CSV"},
        ),
        pair_errors=report(
            f"{TABLES}/rater_pair_errors.csv",
            caption="../report/rater_pair_errors.rst",
            category="Inter-rater",
            subcategory="{dataset}",
            labels={"name": "rater vs rater (every row)", "format": "CSV"},
        ),
        **table_outputs(
            "interrater",
            f"{TABLES}/interrater",
            caption="../report/interrater.rst",
            category="Inter-rater",
            subcategory="{dataset}",
            title="model vs inter-rater",
        ),
        **table_outputs(
            "interrater_per_landmark",
            f"{TABLES}/interrater_per_landmark",
            caption="../report/interrater_per_landmark.rst",
            category="Inter-rater",
            subcategory="{dataset}",
            title="model vs inter-rater per landmark",
        ),
        **table_outputs(
            "rater_pairs",
            f"{TABLES}/rater_pairs",
            caption="../report/rater_pairs.rst",
            category="Inter-rater",
            subcategory="{dataset}",
            title="rater vs rater",
        ),
    log:
        "logs/compare_raters/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        evaluation=config["evaluation"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/compare_raters.py"


rule tabulate_accuracy:
    input:
        errors=rules.evaluate_predictions.output.errors,
    output:
        **table_outputs(
            "accuracy",
            f"{TABLES}/accuracy",
            caption="../report/accuracy.rst",
            category="Accuracy",
            subcategory="{dataset}",
            title="accuracy with confidence intervals",
        ),
        **table_outputs(
            "per_landmark_accuracy",
            f"{TABLES}/per_landmark_accuracy",
            caption="../report/per_landmark_accuracy.rst",
            category="Per landmark",
            subcategory="{dataset}",
            title="per-landmark accuracy with confidence intervals",
        ),
    log:
        "logs/tabulate_accuracy/{dataset}.log",
    params:
        evaluation=config["evaluation"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/tabulate_accuracy.py"


rule plot_interrater:
    input:
        interrater=rules.compare_raters.output.interrater_csv,
        per_landmark=rules.compare_raters.output.interrater_per_landmark_csv,
    output:
        **figure_outputs(
            f"{RESULTS}/{{dataset}}/plots/interrater",
            caption="../report/interrater_plot.rst",
            category="Inter-rater",
            title="model vs raters with confidence intervals",
        ),
    log:
        "logs/plot_interrater/{dataset}.log",
    params:
        evaluation=config["evaluation"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/plot_interrater.py"


rule plot_qualitative:
    input:
        errors=rules.evaluate_predictions.output.errors,
        manifest=rules.convert_dataset.output.manifest,
    output:
        **figure_outputs(
            f"{RESULTS}/{{dataset}}/plots/qualitative",
            caption="../report/qualitative.rst",
            category="Qualitative",
            title="best, median and worst test case",
        ),
    log:
        "logs/plot_qualitative/{dataset}.log",
    params:
        root=lambda wc: nnunet_root(wc.dataset),
        evaluation=config["evaluation"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/plot_qualitative.py"


rule tabulate_paper:
    input:
        accuracy=expand(rules.tabulate_accuracy.output.accuracy_csv, dataset=list(config["datasets"])),
        interrater=expand(rules.compare_raters.output.interrater_csv, dataset=list(config["datasets"])),
    output:
        **table_outputs(
            "accuracy",
            f"{RESULTS}/paper/accuracy",
            caption="../report/paper_accuracy.rst",
            category="Paper tables",
            subcategory="all datasets",
            title="accuracy per dataset, published beside",
        ),
        **table_outputs(
            "interrater",
            f"{RESULTS}/paper/interrater",
            caption="../report/paper_interrater.rst",
            category="Paper tables",
            subcategory="all datasets",
            title="model vs inter-rater per dataset",
        ),
    log:
        "logs/tabulate_paper/paper.log",
    params:
        datasets=list(config["datasets"]),
        published=published_references(),
        evaluation=config["evaluation"],
    conda:
        "../../envs/nnlandmark.yaml"
    script:
        "../scripts/tabulate_paper.py"
