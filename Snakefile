# nnLandmark: 3D anatomical landmark detection with nnU-Net heatmap regression, as one reproducible DAG.
# Run the demo: snakemake --cores all --resources gpu=1   (see README.md)
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
# the conda environment (envs/nnlandmark.yaml) installs this repository from here
os.environ.setdefault("NNLANDMARK_REPO", workflow.basedir)


from nnlandmark.config_files import yaml_syntax_problem

# Snakemake's own message for a broken YAML file names neither the file nor the line, and it lets the second
# of two equal keys win silently (in --configfile files too, which it has read by now)
for _path in [os.path.join(workflow.basedir, "config", "config.yaml"), *workflow.overwrite_configfiles]:
    if problem := yaml_syntax_problem(_path):
        sys.exit(f"error: {problem}")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/nnunet.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
