# Helpers shared by the stage files (dataset look-ups, nnU-Net folder names, final targets).
import json
from pathlib import Path

RESULTS = config["results"]


def dataset_config(dataset):
    """The config block of one dataset, with a clear error for an unknown name."""
    if dataset not in config["datasets"]:
        raise ValueError(f"dataset {dataset!r} is not in the config's 'datasets' ({', '.join(config['datasets'])})")
    return config["datasets"][dataset]


def nnunet_name(dataset):
    """nnU-Net's folder name of a dataset, e.g. Dataset990_Demo."""
    block = dataset_config(dataset)
    return f"Dataset{int(block['dataset_id']):03d}_{block.get('name', dataset)}"


def nnunet_root(dataset):
    return f"{RESULTS}/{dataset}/nnunet"


def model_dir(dataset):
    plans = config["nnunet"]["plans_name"]
    conf = config["nnunet"]["configuration"]
    return f"{nnunet_root(dataset)}/nnUNet_results/{nnunet_name(dataset)}/nnLandmarkTrainer__{plans}__{conf}"


def fold_sentinels(wildcards):
    return expand(f"{RESULTS}/{wildcards.dataset}/nnunet/training/fold_{{fold}}.json", fold=config["train"]["folds"])


def source_inputs(wildcards):
    """What conversion reads: the demo's or a prepared benchmark's manifest; nothing for user folders."""
    block = dataset_config(wildcards.dataset)
    if block["format"] != "folder":
        return {"manifest": f"{RESULTS}/{wildcards.dataset}/source/dataset.json"}
    return {}


def all_targets():
    targets = []
    for dataset in config["datasets"]:
        targets += expand(
            f"{RESULTS}/{dataset}/tables/{{table}}.csv", table=["errors", "summary", "per_landmark"]
        )
        targets += expand(
            f"{RESULTS}/{dataset}/plots/{{plot}}.{{ext}}",
            plot=["per_landmark_errors", "cumulative_errors", "interrater", "qualitative"],
            ext=["png", "svg"],
        )
        targets += expand(
            f"{RESULTS}/{dataset}/tables/{{table}}.{{ext}}",
            table=["accuracy", "per_landmark_accuracy", "interrater", "interrater_per_landmark", "rater_pairs"],
            ext=["csv", "md", "tex", "html"],
        )
        targets += expand(f"{RESULTS}/{dataset}/tables/{{table}}.csv", table=["interrater_errors", "rater_pair_errors"])
    targets += expand(f"{RESULTS}/paper/{{table}}.{{ext}}", table=["accuracy", "interrater"], ext=["csv", "md", "tex", "html"])
    return targets
