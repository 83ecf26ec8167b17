"""Command line: ``nnlandmark predict`` runs a trained model on new images, outside Snakemake;
``export-model`` packs a model into one .zip to share, ``show-model`` prints a model's card."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from nnlandmark.errors import EXPECTED_ERRORS, InputError
from nnlandmark.inference.model_folder import CHECKPOINTS, DEFAULT_CHECKPOINT, available_folds

__all__ = ["available_folds", "build_parser", "main"]


def at_least_one(text: str) -> int:
    """argparse type of ``--threads``: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}; pass e.g. --threads 4")
    return value


def step_fraction(text: str) -> float:
    """argparse type of ``--tile-step-size``: a fraction of the patch size in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(
            f"must be in (0, 1] (a fraction of the patch size), got {text}; 0.5 is nnU-Net's default"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnlandmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="predict landmarks of every image in a folder")
    predict.add_argument("-i", "--images", required=True, type=Path,
                         help="folder of 3-D images (<case>.nii.gz|.nii|.nrrd|.mha, or nnU-Net's "
                              "<case>_0000.nii.gz)")
    predict.add_argument("-o", "--output", required=True, type=Path,
                         help="output folder, outside -i, created if missing; gets <case>.json (LPS mm, with "
                              "confidences) and <case>.mrk.json (3D Slicer); nothing else in it is touched")
    add_model_arguments(predict, checkpoint_default=None)
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    predict.add_argument("--threads", type=at_least_one, default=os.cpu_count() or 1)
    predict.add_argument("--tile-step-size", type=step_fraction, default=0.5,
                         help="sliding-window step as a fraction of the patch size, in (0, 1]")
    predict.add_argument("--inference", choices=["full", "guided"], default="full",
                         help="full: nnU-Net's sliding window over the whole image (default, the reference); "
                              "guided: network windows only where the landmarks are, for ssce_null models "
                              "(README, Performance)")
    export = commands.add_parser("export-model", help="pack a trained model's folds and card into one .zip")
    add_model_arguments(export, checkpoint_default=DEFAULT_CHECKPOINT, exported=False)
    export.add_argument("-o", "--output", required=True, type=Path,
                        help="the .zip to write (replaced if it exists); its folder must exist")
    show = commands.add_parser("show-model", help="print the card of a model folder or an exported .zip")
    add_model_arguments(show, checkpoint_default=None)
    check = commands.add_parser("check-config", help="check workflow config files' YAML syntax (file, line, column)")
    check.add_argument("files", nargs="+", type=Path, help="config files, e.g. the one passed to --configfile")
    return parser


def add_model_arguments(parser: argparse.ArgumentParser, *, checkpoint_default: str | None,
                        exported: bool = True) -> None:
    """``-m``, ``-f`` and ``--checkpoint``, shared by the commands that read a model."""
    model_help = "trained model folder (.../nnUNet_results/DatasetNNN_X/nnLandmarkTrainer__<plans>__<conf>)"
    parser.add_argument("-m", "--model", required=True, type=Path,
                        help=f"{model_help}, or a model .zip from export-model" if exported else model_help)
    parser.add_argument("-f", "--folds", nargs="+", type=int, default=None,
                        help="folds to use (default: every fold_N with the checkpoint)")
    default = ("the one it was exported with; checkpoint_final.pth for a training folder"
               if checkpoint_default is None else checkpoint_default)
    parser.add_argument("--checkpoint", default=checkpoint_default, choices=CHECKPOINTS,
                        help=f"default: {default}")


def run_predict(args: argparse.Namespace) -> int:
    """Check paths, model and image headers, then load the model and predict; writes only in ``-o``."""
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime

    configure_nnunet_runtime(processes=args.threads)
    import torch

    from nnlandmark.devices import resolve_device
    from nnlandmark.inference.landmark_predictor import load_model
    from nnlandmark.inference.model_archive import open_model
    from nnlandmark.inference.model_card import default_checkpoint
    from nnlandmark.inference.predict_folder import (
        check_images,
        check_output_folder,
        images_in_folder,
        predict_images,
    )

    check_output_folder(args.output, images_dir=args.images)
    model_dir = open_model(args.model)
    checkpoint = args.checkpoint or default_checkpoint(model_dir)
    folds = unique_folds(args.folds) if args.folds is not None else available_folds(model_dir, checkpoint)
    images = images_in_folder(args.images)
    check_images(images)
    device = resolve_device(args.device, key="--device")  # a missing GPU stops here, before any output
    torch.set_num_threads(args.threads)
    predictor = load_model(model_dir, folds=folds, checkpoint=checkpoint, device=device,
                           tile_step_size=args.tile_step_size, inference=args.inference)
    results = predict_images(predictor, images, args.output)
    print(json.dumps({"cases": len(results), "folds": folds, "output": str(args.output)}))
    return 0


def unique_folds(folds: Sequence[int]) -> list[int]:
    """``-f`` without repeats (a fold given twice would count twice in the ensemble), saying so."""
    unique = list(dict.fromkeys(folds))
    if len(unique) < len(folds):
        repeated = sorted({f for f in folds if folds.count(f) > 1})
        print(f"nnlandmark: -f gives fold(s) {', '.join(map(str, repeated))} more than once; each is used once",
              file=sys.stderr)
    return unique


def run_export_model(args: argparse.Namespace) -> int:
    """Write the chosen folds of a model folder, with its card, into one .zip."""
    from nnlandmark.inference.model_archive import export_model

    card = export_model(args.model, args.output, folds=args.folds, checkpoint=args.checkpoint)
    folds = [entry["fold"] for entry in card["folds"]]
    print(json.dumps({"archive": str(args.output), "folds": folds, "checkpoint": args.checkpoint,
                      "files": len(card["manifest"]) + 1}))
    return 0


def run_show_model(args: argparse.Namespace) -> int:
    """Print the card of an exported model (as stored, after checking it), or of a training folder."""
    from nnlandmark.inference.model_archive import archive_card_text
    from nnlandmark.inference.model_card import build_card, default_checkpoint, read_stored_text, render_card

    if args.model.is_file():
        text = archive_card_text(args.model)
    else:
        text = read_stored_text(args.model)
        if text is None:
            checkpoint = args.checkpoint or default_checkpoint(args.model)
            folds = args.folds if args.folds is not None else available_folds(args.model, checkpoint)
            text = render_card(build_card(args.model, folds=folds, checkpoint=checkpoint))
    print(text, end="")
    return 0


def run_check_config(args: argparse.Namespace) -> int:
    """Each file's YAML syntax: Snakemake reads ``--configfile`` itself and names neither file nor line."""
    from nnlandmark.config_files import check_yaml_syntax

    for path in args.files:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        check_yaml_syntax(path)
        print(f"{path}: valid YAML")
    return 0


COMMANDS = {"predict": run_predict, "export-model": run_export_model, "show-model": run_show_model,
            "check-config": run_check_config}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nnlandmark").setLevel(logging.INFO)  # progress of ours; others' only when it matters
    try:
        return COMMANDS[args.command](args)
    except EXPECTED_ERRORS as err:
        print(f"nnlandmark {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
