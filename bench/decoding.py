"""Inference decoding: ours (decode at the preprocessed resolution, map the points) vs the upstream method.

Upstream nnLandmark resamples all K logit channels to the original resolution with nnU-Net's own
``resampling_fn_probabilities`` (as in ``convert_predicted_logits_to_segmentation_with_correct_shape``), applies
the sigmoid and takes each channel's argmax. Ours decodes each channel's peak with sub-voxel refinement on the
preprocessed grid (``decode_heatmaps``) and maps the points through crop/resampling (``preprocessed_to_world``).

The logits are synthesised once per scenario at the preprocessed resolution (2x coarser than the original),
in float16 as nnU-Net's predictor returns them: sigmoid heatmaps (peak 0.95, sigma 2 preprocessed voxels,
saturating at logit -15, plus i.i.d. noise) at known sub-voxel positions of an oblique image. Each method runs
in its own subprocess, repetitions interleaved; peak memory = the process's resident high-water mark while
decoding minus its resident memory just before (the logits already loaded, /proc/self/clear_refs reset).

Only the core of the upstream method is timed: upstream additionally builds a top-27 segmentation per channel,
pastes the probabilities back into the uncropped volume and ranks the top 0.5 % voxels per channel, so its
real cost is higher than reported here.

Usage: python bench/decoding.py [--scenarios ct brain] [--reps N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import WORK, memory_kib, reset_peak_memory, rotate, run_python, say, summary, write_result

METHODS = ("ours", "upstream")


@dataclass(frozen=True)
class Scenario:
    """An original image (isotropic, oblique) and the preprocessed grid its logits live on."""

    name: str
    itk_size: tuple[int, int, int]
    spacing_mm: float
    num_landmarks: int
    crop_low: tuple[int, int, int]   # voxels nnU-Net's non-zero crop removes, numpy order, each side
    crop_high: tuple[int, int, int]
    preprocessed_factor: float = 2.0
    sigma_vox: float = 2.0
    peak: float = 0.95
    noise: float = 0.05
    seed: int = 0


SCENARIOS = {
    "ct": Scenario("ct", (400, 400, 300), 0.4, 14, (0, 0, 0), (0, 0, 0)),
    "brain": Scenario("brain", (193, 229, 193), 1.0, 32, (6, 9, 5), (4, 11, 7)),
}


# --- the synthetic case ------------------------------------------------------------------------------
def rotation(seed: int) -> np.ndarray:
    """A proper rotation matrix: the image is oblique, so both methods must map through the direction."""
    rng = np.random.default_rng(seed + 100)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def case_dir(scenario: Scenario) -> Path:
    return WORK / "decoding" / scenario.name


def make_case(scenario: Scenario) -> Path:
    """Write ``logits.npy`` (float16, (1 + K, Z, Y, X)) and ``meta.json`` (properties, truth); cached."""
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape

    from nnlandmark.landmarks import ImageGeometry

    folder = case_dir(scenario)
    meta_file = folder / "meta.json"
    if meta_file.is_file() and json.loads(meta_file.read_text())["scenario"] == asdict(scenario):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(scenario.seed)
    shape = np.array(scenario.itk_size[::-1])  # numpy order (k, j, i)
    low, high = np.array(scenario.crop_low), np.array(scenario.crop_high)
    bbox = [[int(lo), int(s - hi)] for lo, s, hi in zip(low, shape, high)]
    cropped = shape - low - high
    spacing = [scenario.spacing_mm] * 3
    target_spacing = [scenario.spacing_mm * scenario.preprocessed_factor] * 3
    pre_shape = tuple(int(s) for s in compute_new_shape(cropped, spacing, target_spacing))
    geometry = ImageGeometry(tuple(int(s) for s in scenario.itk_size), (scenario.spacing_mm,) * 3,
                             (-81.5, 102.25, -40.0), tuple(float(x) for x in rotation(scenario.seed).ravel()))
    # truth: sub-voxel positions on the preprocessed grid, away from its border
    margin = 4 * scenario.sigma_vox
    pre_points = rng.uniform(margin, np.array(pre_shape) - 1 - margin, size=(scenario.num_landmarks, 3))
    # the inverse of nnU-Net's area-aligned resampling, then undo the crop; transpose_forward is the identity
    in_crop = (pre_points + 0.5) * cropped / np.array(pre_shape) - 0.5
    itk_index = (in_crop + low)[:, ::-1]
    truth_world = geometry.index_to_world(itk_index)

    logits = np.empty((scenario.num_landmarks + 1, *pre_shape), dtype=np.float16)
    logits[0] = 0.0  # the unused background head
    axes = [np.arange(n, dtype=np.float32) for n in pre_shape]
    for k, point in enumerate(pre_points, start=1):
        d2 = [((a - p) ** 2 / (2 * scenario.sigma_vox**2)).astype(np.float32) for a, p in zip(axes, point)]
        log_h = np.float32(np.log(scenario.peak)) - (d2[0][:, None, None] + d2[1][None, :, None] + d2[2][None, None])
        logit = log_h - np.log1p(-np.exp(log_h))
        logit += rng.normal(0.0, scenario.noise, size=pre_shape).astype(np.float32)
        logits[k] = np.maximum(logit, -15.0)
    np.save(folder / "logits.npy", logits)
    properties = {
        "spacing": spacing,
        "shape_before_cropping": [int(s) for s in shape],
        "bbox_used_for_cropping": bbox,
        "shape_after_cropping_and_before_resampling": [int(s) for s in cropped],
        "sitk_stuff": {"spacing": list(geometry.spacing), "origin": list(geometry.origin),
                       "direction": list(geometry.direction)},
    }
    meta = {
        "scenario": asdict(scenario),
        "properties": properties,
        "transpose_forward": [0, 1, 2],
        "preprocessed_spacing": target_spacing,
        "preprocessed_shape": list(pre_shape),
        # nnU-Net's planned resampling_fn_probabilities_kwargs (default ExperimentPlanner)
        "resampling_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "truth_world_mm": truth_world.tolist(),
    }
    meta_file.write_text(json.dumps(meta, indent=2))
    return folder


# --- the two methods ---------------------------------------------------------------------------------
def decode_ours(logits: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """What LandmarkPredictor does with the ensembled logits."""
    import torch

    from nnlandmark.inference.coordinates import preprocessed_to_world
    from nnlandmark.inference.decode import decode_heatmaps

    positions, _ = decode_heatmaps(torch.from_numpy(logits), activation="sigmoid")
    return preprocessed_to_world(positions, preprocessed_shape=logits.shape[1:], properties=meta["properties"],
                                 transpose_forward=meta["transpose_forward"])


def decode_upstream(logits: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Upstream nnLandmark: resample all K channels to the original grid, sigmoid, argmax per channel."""
    import torch
    from nnunetv2.preprocessing.resampling.default_resampling import resample_data_or_seg_to_shape

    from nnlandmark.inference.coordinates import geometry_from_properties

    properties, transpose = meta["properties"], meta["transpose_forward"]
    resampled = resample_data_or_seg_to_shape(
        logits[1:], properties["shape_after_cropping_and_before_resampling"], meta["preprocessed_spacing"],
        [properties["spacing"][i] for i in transpose], **meta["resampling_kwargs"])
    probabilities = torch.sigmoid(torch.from_numpy(resampled))
    del resampled
    peaks = []
    for channel in probabilities:
        peaks.append(np.unravel_index(int(torch.argmax(channel)), tuple(channel.shape)))
    in_crop = np.asarray(peaks, dtype=np.float64)
    transposed = in_crop + np.array([b[0] for b in properties["bbox_used_for_cropping"]])
    numpy_order = np.empty_like(transposed)
    numpy_order[:, transpose] = transposed
    numpy_shape = [0, 0, 0]
    for axis, original_axis in enumerate(transpose):
        numpy_shape[original_axis] = properties["shape_before_cropping"][axis]
    return geometry_from_properties(properties, numpy_shape).index_to_world(numpy_order[:, ::-1])


# --- one measurement in its own process --------------------------------------------------------------
def worker(method: str, folder: Path, threads: int) -> dict[str, Any]:
    import nnunetv2.preprocessing.resampling.default_resampling  # noqa: F401 - imported before the baseline
    import torch

    from nnlandmark.inference import coordinates, decode  # noqa: F401

    torch.set_num_threads(threads)
    torch.sigmoid(torch.zeros(64, dtype=torch.float16)).sum()  # thread pools up before the baseline
    meta = json.loads((folder / "meta.json").read_text())
    logits = np.load(folder / "logits.npy")
    fn = decode_ours if method == "ours" else decode_upstream
    exact = reset_peak_memory()
    baseline = memory_kib()["VmRSS"]
    start = time.perf_counter()
    world = fn(logits, meta)
    seconds = time.perf_counter() - start
    peak = memory_kib()["VmHWM"] - baseline
    errors = np.linalg.norm(world - np.asarray(meta["truth_world_mm"]), axis=1)
    return {"method": method, "seconds": seconds, "peak_mib": peak / 1024, "peak_reset": exact,
            "logits_mib": logits.nbytes / 2**20, "mean_error_mm": float(errors.mean()),
            "max_error_mm": float(errors.max()), "errors_mm": errors.round(4).tolist()}


def measure_scenario(scenario: Scenario, *, reps: int, threads: int) -> dict[str, Any]:
    folder = make_case(scenario)
    meta = json.loads((folder / "meta.json").read_text())
    say(f"{scenario.name}: original {scenario.itk_size} at {scenario.spacing_mm} mm, preprocessed "
        f"{meta['preprocessed_shape'][::-1]} (ITK order) at {meta['preprocessed_spacing'][0]} mm, "
        f"{scenario.num_landmarks} landmarks")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    env = {**os.environ, "nnUNet_def_n_proc": str(threads), "nnUNet_compile": "false"}
    for rep in range(reps):
        for method in rotate(METHODS, rep):
            out = run_python([str(Path(__file__)), "--worker", method, "--case-dir", str(folder),
                              "--threads", str(threads)], env=env)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs[method].append(result)
            say(f"  rep {rep + 1}/{reps} {method:8s}: {result['seconds']:7.2f} s, peak +{result['peak_mib']:7.0f} MiB,"
                f" mean error {result['mean_error_mm']:.3f} mm")
    methods = {}
    for method in METHODS:
        first = runs[method][0]
        methods[method] = {
            "seconds": summary([r["seconds"] for r in runs[method]]),
            "peak_mib": summary([r["peak_mib"] for r in runs[method]]),
            "mean_error_mm": first["mean_error_mm"],  # deterministic: identical in every repetition
            "max_error_mm": first["max_error_mm"],
            "peak_reset_exact": all(r["peak_reset"] for r in runs[method]),
        }
    ours, upstream = methods["ours"], methods["upstream"]
    ratios = {
        "speedup": upstream["seconds"]["median"] / ours["seconds"]["median"],
        "peak_memory_fraction": ours["peak_mib"]["median"] / max(upstream["peak_mib"]["median"], 1e-9),
        "error_ours_minus_upstream_mm": ours["mean_error_mm"] - upstream["mean_error_mm"],
    }
    met = {
        "speedup_ge_3": ratios["speedup"] >= 3.0,
        "memory_le_one_third": ratios["peak_memory_fraction"] <= 1 / 3,
        "error_equal_or_better": ours["mean_error_mm"] <= upstream["mean_error_mm"] + 1e-9,
    }
    say(f"  {scenario.name}: ours {ratios['speedup']:.1f} x faster, {ratios['peak_memory_fraction']:.3f} x the peak "
        f"memory, mean error {ours['mean_error_mm']:.3f} vs {upstream['mean_error_mm']:.3f} mm  "
        f"(targets {'met' if all(met.values()) else 'NOT met: ' + ', '.join(k for k, v in met.items() if not v)})")
    return {"scenario": asdict(scenario), "preprocessed_shape_numpy": meta["preprocessed_shape"],
            "logits_mib": runs["ours"][0]["logits_mib"], "methods": methods, "ratios": ratios, "targets_met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=["ct", "brain"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="decoding", help="result file name under bench/results/")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--case-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.case_dir, args.threads)))
        return
    os.environ.setdefault("nnUNet_def_n_proc", str(args.threads))
    os.environ.setdefault("nnUNet_compile", "false")
    results = {name: measure_scenario(SCENARIOS[name], reps=args.reps, threads=args.threads)
               for name in args.scenarios}
    path = write_result(args.name, {
        "benchmark": "heatmap decoding: ours vs upstream (resample K channels to full resolution, sigmoid, argmax)",
        "threads": args.threads,
        "reps": args.reps,
        "upstream_scope": "resampling + sigmoid + per-channel argmax only; upstream's top-27 segmentation, "
                          "uncropping of the probabilities and top-0.5 % ranking are not included",
        "scenarios": results,
        "targets": "ours >= 3 x faster, <= 1/3 peak memory, equal or better mean error",
    })
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
