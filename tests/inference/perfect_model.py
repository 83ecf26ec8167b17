"""A perfect landmark model for sliding-window tests: exact log-Gaussians, computed from where the window is.

nnU-Net's predictor hands the network only the window's tensor, so the input image holds each voxel's own
(z, y, x) index: the fake U-Net reads its window's position from the corner voxel. Its voxel logits are the
exact log of the Gaussian normalised over the whole infinite grid, its null logit the log of the Gaussian's
mass outside the window, and every window adds its own constant to all of them (what a spatial-softmax loss
cannot see). Landmark centres are a parameter, so folds with different peaks are different state_dicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from torch import nn

from nnlandmark.inference.network import NullLogitNetwork

SPACING = (2.5, 0.8, 0.8)  # preprocessed grid, mm, array axes (z, y, x): slices 3x the in-plane spacing
SIGMA_MM = 2.0
SIGMA_VOX = tuple(SIGMA_MM / s for s in SPACING)  # (0.8, 2.5, 2.5) voxels
PATCH = (48, 48, 48)
IMAGE = (96, 96, 96)  # 3 windows per axis at tile step 0.5: 27 windows


def plans(patch: Sequence[int] = PATCH) -> PlansManager:
    """Plans with just what nnU-Net's predictor reads (the network is given, not built from them)."""
    return PlansManager({
        "dataset_name": "Dataset998_Windows", "plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2], "image_reader_writer": "SimpleITKIO", "label_manager": "LabelManager",
        "configurations": {"3d_fullres": {"patch_size": list(patch), "spacing": list(SPACING), "batch_size": 1,
                                          "architecture": {}}},
    })


def dataset_json(names: Sequence[str]) -> dict[str, Any]:
    return {"channel_names": {"0": "z", "1": "y", "2": "x"}, "file_ending": ".nii.gz", "landmarks": list(names),
            "labels": {"background": 0, **{n: i + 1 for i, n in enumerate(names)}}}


def coordinate_image(shape: Sequence[int] = IMAGE) -> torch.Tensor:
    """(3, *shape) float32: each voxel holds its own (z, y, x) index."""
    return torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in shape], indexing="ij"))


def identity_properties(shape: Sequence[int] = IMAGE) -> dict[str, Any]:
    """nnU-Net properties of an uncropped, unresampled image whose world (x, y, z) mm is its (x, y, z) index."""
    return {"shape_before_cropping": tuple(shape), "shape_after_cropping_and_before_resampling": tuple(shape),
            "bbox_used_for_cropping": [[0, s] for s in shape],
            "sitk_stuff": {"spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0),
                           "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}}


def log_lattice_mass(centres: np.ndarray, sigma: Sequence[float]) -> np.ndarray:
    """(K, 3) log of each axis' Gaussian profile summed over all integers, by brute force."""
    n = np.arange(-400, 500, dtype=np.float64)
    return np.stack([np.log(np.exp(-0.5 * ((n[None] - centres[:, a, None]) / s) ** 2).sum(-1))
                     for a, s in enumerate(sigma)], axis=-1)


def window_offset(origin: Sequence[int], amplitude: float, seed: int) -> float:
    """The constant a window adds to all its logits: +-amplitude, by a coin drawn from the window's position."""
    if amplitude == 0:
        return 0.0
    return float(amplitude * np.random.default_rng([seed, *map(int, origin)]).choice([-1.0, 1.0]))


class CoordinateEncoder(nn.Module):
    """The skips list of a U-Net encoder: here just the input coordinates (the "bottleneck" too)."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x]


class PerfectDecoder(nn.Module):
    """Voxel logits: log of the normalised Gaussian of each landmark, plus ``level`` and the window's offset."""

    def __init__(self, centres: np.ndarray, *, sigma: Sequence[float] = SIGMA_VOX, amplitude: float = 0.0,
                 level: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.tensor(centres, dtype=torch.float64), requires_grad=False)  # a copy
        self.sigma, self.amplitude, self.level, self.seed = tuple(sigma), amplitude, level, seed
        self.deep_supervision = False

    def offset(self, coords: torch.Tensor) -> float:
        return self.level + window_offset(coords[:, 0, 0, 0].round().long().tolist(), self.amplitude, self.seed)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        coords = skips[-1].double()
        centres = self.centres
        log_norm = torch.from_numpy(log_lattice_mass(centres.numpy(), self.sigma).sum(-1))
        outputs = []
        for window in coords:
            d2 = sum(((window[a][None] - centres[:, a, None, None, None]) / s) ** 2 for a, s in enumerate(self.sigma))
            log_p = -0.5 * d2 - log_norm[:, None, None, None] + self.offset(window)
            outputs.append(torch.cat([torch.zeros_like(log_p[:1]), log_p]))
        return torch.stack(outputs).float()


class PerfectNullHead(nn.Module):
    """Null logits: log of each landmark's Gaussian mass outside the window, plus the window's offset."""

    def __init__(self, decoder: PerfectDecoder) -> None:
        super().__init__()
        self.__dict__["decoder"] = decoder  # shares the decoder's centres without a second state_dict entry

    @np.errstate(divide="ignore")  # a landmark far from the window: log of 0 mass inside, or of 0 outside
    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        decoder = self.decoder
        centres = decoder.centres.numpy()
        log_total = log_lattice_mass(centres, decoder.sigma)
        nulls = []
        for window in bottleneck.double():
            origin = window[:, 0, 0, 0].round().long().tolist()
            log_inside = np.stack([np.log(np.exp(-0.5 * ((np.arange(o, o + n)[None] - centres[:, a, None]) / s) ** 2)
                                          .sum(-1)) for a, (o, n, s) in
                                   enumerate(zip(origin, window.shape[1:], decoder.sigma))], axis=-1)
            in_window = np.exp((log_inside - log_total).sum(-1))
            log_outside = np.log1p(-np.minimum(in_window, 1.0))
            nulls.append(torch.from_numpy(log_outside) + decoder.offset(window))
        return torch.stack(nulls).float()


def null_network(centres: np.ndarray, **kwargs: Any) -> NullLogitNetwork:
    """The perfect model of the ``ssce_null`` recipe, through the real wrapper's normalisation."""
    decoder = PerfectDecoder(centres, **kwargs)
    return NullLogitNetwork(CoordinateEncoder(), decoder, PerfectNullHead(decoder))


class PlainNetwork(nn.Module):
    """The perfect model of the old ``ssce`` recipe: the raw voxel logits, no null outcome."""

    def __init__(self, centres: np.ndarray, **kwargs: Any) -> None:
        super().__init__()
        self.encoder = CoordinateEncoder()
        self.decoder = PerfectDecoder(centres, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def gaussian_peak_log_probability(sigma: Sequence[float] = SIGMA_VOX) -> float:
    """log p at the centre of a normalised continuous Gaussian (the lattice sum is within 1e-5 for sigma >= 0.8)."""
    return -sum(math.log(math.sqrt(2 * math.pi) * s) for s in sigma)
