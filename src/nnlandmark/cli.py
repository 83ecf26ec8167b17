"""Command line: ``nnlandmark predict`` runs a trained model on new images, outside Snakemake."""

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
    predict.add_argument("-m", "--model", required=True, type=Path,
                         help="trained model folder "
                              "(.../nnUNet_results/DatasetNNN_X/nnLandmarkTrainer__<plans>__<conf>)")
    predict.add_argument("-f", "--folds", nargs="+", type=int, default=None,
                         help="folds to ensemble (default: every fold_N with the checkpoint)")
    predict.add_argument("--checkpoint", default="checkpoint_final.pth",
                         choices=["checkpoint_final.pth", "checkpoint_best.pth"])
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    predict.add_argument("--threads", type=at_least_one, default=os.cpu_count() or 1)
    predict.add_argument("--tile-step-size", type=step_fraction, default=0.5,
                         help="sliding-window step as a fraction of the patch size, in (0, 1]")
    return parser


def available_folds(model_dir: Path, checkpoint: str) -> list[int]:
    """Folds of ``model_dir`` that have ``checkpoint``."""
    if not model_dir.is_dir():
        message = f"model folder {model_dir} does not exist; pass the trained model folder with -m"
        raise FileNotFoundError(message)
    folds = sorted(int(p.parent.name.split("_")[1]) for p in model_dir.glob(f"fold_*/{checkpoint}"))
    if not folds:
        message = f"no fold_*/{checkpoint} in {model_dir}: is it a trained nnLandmark model folder?"
        raise FileNotFoundError(message)
    return folds


def run_predict(args: argparse.Namespace) -> int:
    """Check paths, model folder and image headers, then load the model and predict; writes only in ``-o``."""
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime

    configure_nnunet_runtime(processes=args.threads)
    import torch

    from nnlandmark.inference.landmark_predictor import load_model
    from nnlandmark.inference.predict_folder import (
        check_images,
        check_output_folder,
        images_in_folder,
        predict_images,
    )
    from nnlandmark.training.run_fold import resolve_device

    check_output_folder(args.output, images_dir=args.images)
    folds = args.folds if args.folds is not None else available_folds(args.model, args.checkpoint)
    images = images_in_folder(args.images)
    check_images(images)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no GPU; use --device auto or --device cpu")
    torch.set_num_threads(args.threads)
    predictor = load_model(args.model, folds=folds, checkpoint=args.checkpoint,
                           device=resolve_device(args.device), tile_step_size=args.tile_step_size)
    results = predict_images(predictor, images, args.output)
    print(json.dumps({"cases": len(results), "folds": folds, "output": str(args.output)}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nnlandmark").setLevel(logging.INFO)  # progress of ours; others' only when it matters
    try:
        if args.command == "predict":
            return run_predict(args)
    except EXPECTED_ERRORS as err:
        print(f"nnlandmark {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
