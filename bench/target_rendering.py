"""Target rendering: building one batch of heatmap targets, ours vs dense rendering of full heatmaps.

Contenders, all starting from the augmented label map of a batch (landmark blobs of radius 2):
- ours_separable: ``blob_centroids`` (one scatter_add pass) + ``gaussian_factors``, what the SSCE loss contracts
  with; no dense target exists.
- ours_dense: ``blob_centroids`` + ``render_gaussian``: the dense (B, K, *patch) float32 target the MSE and
  top-k BCE losses use, rendered on the training device.
- dense_numpy: the naive data-loading-side approach: per sample and landmark, find the blob and evaluate a
  full-patch Gaussian in numpy (float32), from scratch.
- upstream_paste: upstream nnLandmark's approach: per sample, connected components (cc3d) and a distance
  transform per blob for its centre on the data-loading side (scipy's EDT stands in for the ``edt`` package),
  then a precomputed Gaussian kernel pasted into a zeroed dense target in the loss.
Repetitions are interleaved and medians reported. The bytes a data loader would move per batch are
reported too: a label map vs dense float heatmaps.

Usage: python bench/target_rendering.py [--device auto|cpu|cuda] [--reps N] [--landmarks K] [--batch B]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from common import rotate, say, summary, write_result

PATCHES = {"cpu_plan": (48, 64, 64), "gpu_plan": (128, 128, 128)}
SIGMA_VOX = 2.0
BLOB_RADIUS_VOX = 2.0


def make_labels(batch: int, landmarks: int, patch: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """(B, 1, *patch) float32 label map with one ball of radius 2 per landmark, as nnU-Net's loader returns it."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((batch, 1, *patch), dtype=np.float32)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in patch], indexing="ij"), axis=-1)
    for b in range(batch):
        for k in range(1, landmarks + 1):
            centre = rng.uniform(4, np.array(patch) - 5)
            lo = np.maximum(0, np.floor(centre - 3).astype(int))
            hi = np.minimum(patch, np.ceil(centre + 4).astype(int))
            box = tuple(slice(a, z) for a, z in zip(lo, hi))
            inside = np.linalg.norm(grid[box] - centre, axis=-1) <= BLOB_RADIUS_VOX
            labels[b, 0][box][inside] = k
    return labels


def dense_numpy(labels: np.ndarray, landmarks: int) -> np.ndarray:
    """Per sample and landmark: blob centre by numpy, then a Gaussian over the full patch."""
    batch, _, *patch = labels.shape
    grids = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in patch], indexing="ij")
    target = np.zeros((batch, landmarks, *patch), dtype=np.float32)
    for b in range(batch):
        for k in range(1, landmarks + 1):
            voxels = np.argwhere(labels[b, 0] == k)
            if len(voxels) == 0:
                continue
            centre = voxels.mean(axis=0)
            squared = sum((g - c) ** 2 for g, c in zip(grids, centre))
            target[b, k - 1] = np.exp(-squared / (2 * SIGMA_VOX**2))
    return target


def gaussian_kernel(sigma: float) -> np.ndarray:
    half = int(np.ceil(3 * sigma))
    axis = np.arange(-half, half + 1, dtype=np.float32)
    profile = np.exp(-(axis**2) / (2 * sigma**2))
    return profile[:, None, None] * profile[None, :, None] * profile[None, None, :]


def upstream_centres(labels: np.ndarray) -> list[dict[int, tuple[int, ...]]]:
    """Data-loading side of upstream: connected-component boxes and the EDT maximum of each blob."""
    import cc3d
    from scipy.ndimage import distance_transform_edt

    centres = []
    for sample in labels[:, 0]:
        seg = sample.astype(np.uint8)
        stats = cc3d.statistics(seg)
        found = {}
        for label in np.unique(seg):
            if label == 0:
                continue
            box = stats["bounding_boxes"][label]
            crop = np.pad(seg[box] == label, 1)  # black border, as edt.edt(..., black_border=True)
            distance = distance_transform_edt(crop)[1:-1, 1:-1, 1:-1]
            peak = np.unravel_index(int(np.argmax(distance)), distance.shape)
            found[int(label)] = tuple(int(p + s.start) for p, s in zip(peak, box))
        centres.append(found)
    return centres


def upstream_paste(target: Any, centres: list[dict[int, tuple[int, ...]]], kernel: Any) -> Any:
    """Loss side of upstream: zero a preallocated dense target and paste the kernel at each centre."""
    target.zero_()
    half = kernel.shape[0] // 2
    spatial = target.shape[2:]
    for b, found in enumerate(centres):
        for label, centre in found.items():
            dst, src = [], []
            for c, n in zip(centre, spatial):
                lo, hi = c - half, c + half + 1
                dst.append(slice(max(0, lo), min(n, hi)))
                src.append(slice(max(0, lo) - lo, kernel.shape[0] - (hi - min(n, hi))))
            target[(b, label - 1, *dst)] = kernel[tuple(src)]
    return target


def contenders(labels_np: np.ndarray, landmarks: int, device: Any) -> dict[str, Callable[[], Any]]:
    import torch

    from nnlandmark.training.targets import blob_centroids, gaussian_factors, render_gaussian

    labels = torch.from_numpy(labels_np).to(device)
    patch = tuple(labels_np.shape[2:])
    kernel = torch.from_numpy(gaussian_kernel(SIGMA_VOX)).to(device)
    preallocated = torch.zeros((labels_np.shape[0], landmarks, *patch), device=device)

    def ours_separable() -> Any:
        centroids = blob_centroids(labels, landmarks)
        return gaussian_factors(centroids.centres, patch, sigma_vox=SIGMA_VOX)

    def ours_dense() -> Any:
        centroids = blob_centroids(labels, landmarks)
        return render_gaussian(centroids.centres, patch, sigma_vox=SIGMA_VOX)

    def naive() -> Any:
        return torch.from_numpy(dense_numpy(labels_np, landmarks)).to(device)

    def upstream() -> Any:
        return upstream_paste(preallocated, upstream_centres(labels_np), kernel)

    return {"ours_separable": ours_separable, "ours_dense": ours_dense, "dense_numpy": naive,
            "upstream_paste": upstream}


def measure(fns: dict[str, Callable[[], Any]], *, reps: int, device: Any) -> dict[str, list[float]]:
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for fn in fns.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(reps):
        for name in rotate(list(fns), rep):
            sync()
            start = time.perf_counter()
            fns[name]()
            sync()
            samples[name].append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--landmarks", type=int, default=14)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="target_rendering", help="result file name under bench/results/")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    results: dict[str, Any] = {}
    for plan, patch in PATCHES.items():
        labels = make_labels(args.batch, args.landmarks, patch)
        fns = contenders(labels, args.landmarks, device)
        samples = measure(fns, reps=args.reps, device=device)
        timings = {name: summary([s * 1000 for s in values]) for name, values in samples.items()}
        reference = timings["dense_numpy"]["median"]
        ratios = {f"{name}_speedup_vs_dense_numpy": reference / timings[name]["median"] for name in timings
                  if name != "dense_numpy"}
        ratios.update({f"{name}_speedup_vs_upstream_paste": timings["upstream_paste"]["median"]
                       / timings[name]["median"] for name in ("ours_separable", "ours_dense")})
        voxels = args.batch * int(np.prod(patch))
        results[plan] = {
            "patch": list(patch),
            "milliseconds": timings,
            "ratios": ratios,
            "bytes_per_batch": {"label_map_int16": voxels * 2, "dense_heatmaps_float32": voxels * args.landmarks * 4,
                                "separable_factors_float32": args.batch * args.landmarks * int(sum(patch)) * 4},
        }
        say(f"{plan} patch {patch}, batch {args.batch}, {args.landmarks} landmarks on {device} (median ms): "
            + ", ".join(f"{n} {t['median']:.1f}" for n, t in timings.items()))
        say("  " + ", ".join(f"{k} {v:.1f} x" for k, v in ratios.items()))
    path = write_result(args.name, {
        "benchmark": "heatmap targets for one batch, from the augmented label map",
        "device": str(device),
        "batch": args.batch,
        "landmarks": args.landmarks,
        "sigma_vox": SIGMA_VOX,
        "reps": args.reps,
        "note": "upstream_paste uses scipy's distance transform in place of the edt package",
        "results": results,
    })
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
