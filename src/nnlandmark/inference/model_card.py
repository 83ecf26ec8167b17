"""A model's card: what it detects, from which images, how well each fold validated, and with which versions."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nnlandmark.inference.model_folder import DEFAULT_CHECKPOINT, MODEL_INFO, check_model_folder, read_json

CARD_JSON = "model_card.json"
CARD_TEXT = "model_card.txt"
CARD_FORMAT = "nnlandmark-model"
CARD_FORMAT_VERSION = 1
PACKAGES = ("nnlandmark", "nnunetv2", "torch")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on ("unknown" when not installed as a package)."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def fold_validation(model_dir: Path, fold: int) -> dict[str, Any] | None:
    """Whole-case validation of a fold (``fold_N/validation/summary.json``): MRE in mm and case count."""
    path = Path(model_dir) / f"fold_{fold}" / "validation" / "summary.json"
    if not path.is_file():
        return None
    summary = read_json(path)
    return {"mre_mm": summary.get("mre_mm"), "median_mm": summary.get("median_mm"), "n_cases": summary.get("n_cases")}


def in_image_axes(values: Sequence[float], transpose_forward: Sequence[int]) -> list[float]:
    """Per-axis values of nnU-Net's (transposed, numpy-ordered) grid in ITK image axis order (i, j, k).

    nnU-Net moves the numpy axis ``transpose_forward[a]`` to position ``a``; SimpleITK's numpy order is
    (k, j, i), hence the final reversal.
    """
    numpy_order = [0.0] * len(values)
    for axis, original in enumerate(transpose_forward):
        numpy_order[original] = values[axis]
    return [float(v) for v in numpy_order[::-1]]


def build_card(model_dir: Path, *, folds: Sequence[int], checkpoint: str = DEFAULT_CHECKPOINT) -> dict[str, Any]:
    """The card of ``folds`` of a trained model folder (without the file manifest, which export adds)."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    model_dir = Path(model_dir)
    check_model_folder(model_dir)
    info = read_json(model_dir / MODEL_INFO)
    plans = read_json(model_dir / "plans.json")
    dataset_json = read_json(model_dir / "dataset.json")
    configuration = PlansManager(plans).get_configuration(info["configuration"])
    transpose = plans.get("transpose_forward", [0, 1, 2])
    return {
        "format": CARD_FORMAT,
        "format_version": CARD_FORMAT_VERSION,
        "dataset": plans.get("dataset_name"),
        "model": model_dir.name,
        "landmarks": list(info["landmarks"]),
        "channels": dict(dataset_json["channel_names"]),
        "configuration": info["configuration"],
        "target_spacing_mm": in_image_axes(configuration.spacing, transpose),
        "patch_size_voxels": [int(v) for v in in_image_axes(configuration.patch_size, transpose)],
        "axis_order": "image axes (i, j, k)",
        "activation": info.get("activation"),
        "absent_below": info.get("absent_below", 0.0),
        "absent_below_guided": info.get("absent_below_guided"),
        "absent_below_landmarks": info.get("absent_below_landmarks") or {},
        "absent_below_guided_landmarks": info.get("absent_below_guided_landmarks") or {},
        "recipe": info.get("recipe"),
        "mirror_pairs": info.get("mirror_pairs", []),
        "may_share_place": info.get("may_share_place"),
        "checkpoint": checkpoint,
        "folds": [{"fold": int(fold), "validation": fold_validation(model_dir, fold)} for fold in folds],
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def read_card(model_dir: Path) -> dict[str, Any] | None:
    """The card stored in an exported (and extracted) model, or None for a model folder from training."""
    path = Path(model_dir) / CARD_JSON
    return read_json(path) if path.is_file() else None


def read_stored_text(model_dir: Path) -> str | None:
    """The text card stored with an exported (and extracted) model, or None for a training folder."""
    path = Path(model_dir) / CARD_TEXT
    return path.read_text(encoding="utf-8") if path.is_file() and (Path(model_dir) / CARD_JSON).is_file() else None


def default_checkpoint(model_dir: Path) -> str:
    """The checkpoint an exported model was exported with; ``checkpoint_final.pth`` for a training folder."""
    card = read_card(model_dir)
    return str(card["checkpoint"]) if card and card.get("checkpoint") else DEFAULT_CHECKPOINT


def _number(value: float, unit: str = "") -> str:
    return f"{value:g}{unit}"


def _flat(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            items.extend(_flat(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _validation_line(entry: Mapping[str, Any]) -> str:
    validation = entry.get("validation")
    mre = validation.get("mre_mm") if validation else None
    if mre is None or not math.isfinite(float(mre)):
        return f"  fold {entry['fold']}: no whole-case validation recorded"
    return f"  fold {entry['fold']}: MRE {float(mre):.2f} mm over {validation.get('n_cases')} validation cases"


def render_card(card: Mapping[str, Any]) -> str:
    """The card as text for people (``nnlandmark show-model``); the file manifest is in the JSON form only."""
    landmarks = card["landmarks"]
    channels = ", ".join(f"{key}: {name}" for key, name in card["channels"].items())
    spacing = " x ".join(_number(v) for v in card["target_spacing_mm"])
    patch = " x ".join(str(v) for v in card["patch_size_voxels"])
    versions = ", ".join(f"{name} {version}" for name, version in card["versions"].items())
    lines = [
        f"nnLandmark model {card.get('model')} of {card.get('dataset')}",
        f"landmarks ({len(landmarks)}): {', '.join(landmarks)}",
        f"channels: {channels}",
        f"configuration: {card['configuration']}; target spacing {spacing} mm, patch {patch} voxels "
        f"({card.get('axis_order', 'image axes (i, j, k)')})",
        f"heatmap activation: {card.get('activation')}; landmarks absent below confidence {card.get('absent_below')}"
        + (f" (guided mode: {card['absent_below_guided']})" if card.get("absent_below_guided") is not None else ""),
        *([("landmarks' own absence thresholds (full mode): "
            + ", ".join(f"{name} {value:.4g}" for name, value in card["absent_below_landmarks"].items()))]
          if card.get("absent_below_landmarks") else []),
        *([("landmarks' own absence thresholds (guided mode): "
            + ", ".join(f"{name} {value:.4g}" for name, value in card["absent_below_guided_landmarks"].items()))]
          if card.get("absent_below_guided_landmarks") else []),
        "left/right pairs put on their sides (LPS x): "
        + (", ".join(f"{a}/{b}" for a, b in card.get("mirror_pairs") or []) or "none"),
        _shared_place_line(card.get("may_share_place")),
        f"folds: {', '.join(str(f['fold']) for f in card['folds'])} ({card['checkpoint']}), "
        "each fold's whole-case validation:",
        *(_validation_line(entry) for entry in card["folds"]),
        "recipe:",
        *(f"  {key}: {value}" for key, value in _flat(card.get("recipe") or {})),
        f"versions: {versions}",
        f"created: {card['created']}",
    ]
    return "\n".join(lines) + "\n"


def _shared_place_line(may_share: list[list[str]] | None) -> str:
    if may_share is None:
        return "landmarks that peak at one place: not parted (model trained before nnLandmark recorded which may)"
    exempt = ", ".join(f"{a}/{b}" for a, b in may_share) or "none"
    return f"landmarks that peak at one place are parted, except pairs the training set put close together: {exempt}"
