"""Heatmap targets rendered per batch, on the training device, from augmented landmark-blob label maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BlobCentroids:
    """Per-sample, per-landmark blob centroids in array voxel order (axis 0, 1, 2) of the patch.

    ``centres`` (B, K, 3) float; ``voxels`` (B, K) voxel count (0 = landmark not in the patch);
    ``touches_border`` (B, K) bool: the blob is cut by the patch border, so its centroid is biased.
    """

    centres: torch.Tensor
    voxels: torch.Tensor
    touches_border: torch.Tensor

    @property
    def visible(self) -> torch.Tensor:
        """Landmarks whose blob is in the patch at all."""
        return self.voxels > 0

    @property
    def reliable(self) -> torch.Tensor:
        """Landmarks whose whole blob is inside the patch (unbiased centroid)."""
        return self.visible & ~self.touches_border


def blob_centroids(labels: torch.Tensor, num_landmarks: int) -> BlobCentroids:
    """Centroids of labels 1..K in a (B, L, *spatial) or (B, *spatial) integer label map.

    ``L`` label layers (conversion paints landmarks closer than 2 voxels into different layers) hold disjoint
    label sets, so a landmark's blob is its label's voxels in any layer. Only the blob voxels are visited
    (``nonzero`` then ``index_add_`` into B x (K + 1) bins): scattering every voxel would pile the background
    onto one bin, which serialises the atomic adds on a GPU. Negative labels (nnU-Net's padding) and labels
    above K count as background.
    """
    if labels.ndim == 4:
        labels = labels[:, None]
    if labels.ndim != 5:
        raise ValueError(f"expected a (B, [L,] Z, Y, X) label map, got shape {tuple(labels.shape)}")
    b, _, *spatial = labels.shape
    device = labels.device
    blob = (labels > 0.5) & (labels < num_landmarks + 0.5)
    voxels = blob.nonzero()  # (M, 5): sample, layer, then array axes 0..2, in the same order as labels[blob]
    bins = voxels[:, 0] * (num_landmarks + 1) + labels[blob].round().long()
    n_bins = b * (num_landmarks + 1)
    coords = voxels[:, 2:].float()
    last = torch.as_tensor(spatial, device=device) - 1
    on_edge = ((voxels[:, 2:] == 0) | (voxels[:, 2:] == last)).any(dim=1).float()
    counts = torch.zeros(n_bins, device=device).index_add_(0, bins, torch.ones_like(on_edge))
    sums = torch.zeros(n_bins, 3, device=device).index_add_(0, bins, coords)
    on_border = torch.zeros(n_bins, device=device).index_add_(0, bins, on_edge)
    centres = (sums / counts.clamp(min=1).unsqueeze(-1)).view(b, num_landmarks + 1, 3)
    counts = counts.view(b, num_landmarks + 1)
    on_border = on_border.view(b, num_landmarks + 1)
    return BlobCentroids(centres[:, 1:], counts[:, 1:], on_border[:, 1:] > 0)


def gaussian_factors(
    centres: torch.Tensor, spatial_shape: tuple[int, ...], *, sigma_vox: float | Sequence[float]
) -> list[torch.Tensor]:
    """Separable 1-D Gaussian profiles, one (B, K, L_axis) tensor per axis, peak 1 at the centre.

    ``sigma_vox`` is one sigma for every axis or one per axis (an isotropic Gaussian in mm is anisotropic in
    voxels on an anisotropic grid). Their outer product is the Gaussian heatmap; losses contract with the
    factors directly, so the dense B x K x volume target is only built when a loss needs it.
    """
    sigmas = per_axis_sigma(sigma_vox, len(spatial_shape))
    factors = []
    for axis, (length, sigma) in enumerate(zip(spatial_shape, sigmas)):
        coords = torch.arange(length, device=centres.device, dtype=torch.float32)
        diff = coords.view(1, 1, -1) - centres[..., axis : axis + 1]
        factors.append(torch.exp(-0.5 * (diff / sigma) ** 2))
    return factors


def per_axis_sigma(sigma_vox: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    """``sigma_vox`` as one positive sigma per axis."""
    if isinstance(sigma_vox, (int, float)):
        sigmas = (float(sigma_vox),) * ndim
    else:
        sigmas = tuple(float(s) for s in sigma_vox)
    if len(sigmas) != ndim or min(sigmas) <= 0:
        raise ValueError(f"sigma_vox must be positive, one value or one per axis ({ndim}); got {sigma_vox}")
    return sigmas


def render_gaussian(
    centres: torch.Tensor, spatial_shape: tuple[int, ...], *, sigma_vox: float | Sequence[float]
) -> torch.Tensor:
    """Dense (B, K, *spatial) Gaussian heatmaps with peak 1 at each (sub-voxel) centre."""
    gz, gy, gx = gaussian_factors(centres, spatial_shape, sigma_vox=sigma_vox)
    return gz[..., :, None, None] * gy[..., None, :, None] * gx[..., None, None, :]


def render_edt_ball(
    centres: torch.Tensor, spatial_shape: tuple[int, ...], *, radius_vox: float
) -> torch.Tensor:
    """Dense (B, K, *spatial) peak-normalised cones: 1 - d / r inside a ball of radius r, 0 outside."""
    if radius_vox <= 0:
        raise ValueError(f"radius_vox must be positive, got {radius_vox}")
    squared = None
    for axis, length in enumerate(spatial_shape):
        coords = torch.arange(length, device=centres.device, dtype=torch.float32)
        diff2 = (coords.view(1, 1, -1) - centres[..., axis : axis + 1]) ** 2
        shape = [diff2.shape[0], diff2.shape[1], 1, 1, 1]
        shape[2 + axis] = length
        term = diff2.view(shape)
        squared = term if squared is None else squared + term
    return (1.0 - torch.sqrt(squared) / radius_vox).clamp(min=0.0)
