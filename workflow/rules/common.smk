# Helpers shared by the stage files (dataset look-ups, nnU-Net folder names, final targets).
import json
import os
import sys
from pathlib import Path

from nnlandmark.datasets.folder_inputs import folder_source_files
from nnlandmark.provenance import stat_fingerprint

RESULTS = config["results"]
if os.path.exists(RESULTS) and not os.path.isdir(RESULTS):
    sys.exit(f"error: results: {RESULTS} is an existing file, not a folder; set results to a folder (created if missing)")

_outside = [fold for fold in config["train"]["folds"] if fold >= config["train"]["num_folds"]]
if _outside:
    raise ValueError(
        f"train.folds has {_outside}, outside 0..{config['train']['num_folds'] - 1} (train.num_folds = "
        f"{config['train']['num_folds']}); choose folds below train.num_folds or raise train.num_folds"
    )


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
    """What conversion reads: the demo's or a prepared benchmark's manifest, or every file of a user's folders."""
    block = dataset_config(wildcards.dataset)
    if block["format"] != "folder":
        return {"manifest": f"{RESULTS}/{wildcards.dataset}/source/dataset.json"}
    return {"sources": [str(p) for p in folder_source_files(block)]}


def source_fingerprint(wildcards):
    """Names, sizes and mtimes of a user's folder files: a params re-run trigger that also catches an edit
    that leaves the file older than the converted dataset (cp -p, a restored backup) or a rename."""
    block = dataset_config(wildcards.dataset)
    if block["format"] != "folder":
        return ""
    return stat_fingerprint(folder_source_files(block))


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
