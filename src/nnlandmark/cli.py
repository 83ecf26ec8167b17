"""Command line: ``nnlandmark predict`` runs a trained model on new images, outside Snakemake."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnlandmark", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="predict landmarks of every image in a folder")
    predict.add_argument("-i", "--images", required=True, type=Path,
                         help="folder of images (<case>.nii.gz|.nii|.nrrd|.mha, or nnU-Net's <case>_0000.nii.gz)")
    predict.add_argument("-o", "--output", required=True, type=Path,
                         help="output folder: <case>.json (LPS mm, with confidences) and <case>.mrk.json (3D Slicer)")
    predict.add_argument("-m", "--model", required=True, type=Path,
                         help="trained model folder (.../nnUNet_results/DatasetNNN_X/nnLandmarkTrainer__<plans>__<conf>)")
    predict.add_argument("-f", "--folds", nargs="+", type=int, default=None,
                         help="folds to ensemble (default: every fold_N with the checkpoint)")
    predict.add_argument("--checkpoint", default="checkpoint_final.pth",
                         choices=["checkpoint_final.pth", "checkpoint_best.pth"])
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    predict.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    predict.add_argument("--tile-step-size", type=float, default=0.5)
    return parser


def available_folds(model_dir: Path, checkpoint: str) -> list[int]:
    """Folds of ``model_dir`` that have ``checkpoint``."""
    folds = sorted(int(p.parent.name.split("_")[1]) for p in model_dir.glob(f"fold_*/{checkpoint}"))
    if not folds:
        raise FileNotFoundError(f"no fold_*/{checkpoint} in {model_dir}: is it a trained nnLandmark model folder?")
    return folds


def run_predict(args: argparse.Namespace) -> int:
    from nnlandmark.experiment_planning.stages import configure_nnunet_runtime

    configure_nnunet_runtime(processes=args.threads)
    import torch

    from nnlandmark.inference.landmark_predictor import load_model
    from nnlandmark.inference.predict_folder import images_in_folder, predict_images
    from nnlandmark.training.run_fold import resolve_device

    torch.set_num_threads(args.threads)
    folds = args.folds if args.folds is not None else available_folds(args.model, args.checkpoint)
    predictor = load_model(args.model, folds=folds, checkpoint=args.checkpoint, device=resolve_device(args.device),
                           tile_step_size=args.tile_step_size)
    results = predict_images(predictor, images_in_folder(args.images), args.output)
    print(json.dumps({"cases": len(results), "folds": folds, "output": str(args.output)}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "predict":
            return run_predict(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"nnlandmark {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
