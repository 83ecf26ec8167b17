"""Heatmap targets rendered per batch, on the training device, from augmented landmark-blob label maps."""

from __future__ import annotations

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
    """Centroids of labels 1..K in a (B, 1, *spatial) or (B, *spatial) integer label map.

    One pass of ``scatter_add`` over the voxels; negative labels (nnU-Net's padding) count as background.
    """
    if labels.ndim == 5:
        labels = labels[:, 0]
    if labels.ndim != 4:
        raise ValueError(f"expected a (B, [1,] Z, Y, X) label map, got shape {tuple(labels.shape)}")
    b, *spatial = labels.shape
    device = labels.device
    flat = labels.reshape(b, -1).round().long().clamp(min=0)
    flat = torch.where(flat > num_landmarks, torch.zeros_like(flat), flat)
    grids = torch.meshgrid(*[torch.arange(s, device=device, dtype=torch.float32) for s in spatial], indexing="ij")
    counts = torch.zeros(b, num_landmarks + 1, device=device).scatter_add_(
        1, flat, torch.ones_like(flat, dtype=torch.float32)
    )
    sums = []
    border = torch.zeros(spatial, dtype=torch.bool, device=device)
    for axis, grid in enumerate(grids):
        sums.append(
            torch.zeros(b, num_landmarks + 1, device=device).scatter_add_(1, flat, grid.reshape(1, -1).expand(b, -1))
        )
        index = [slice(None)] * len(spatial)
        for edge in (0, spatial[axis] - 1):
            index[axis] = edge
            border[tuple(index)] = True
    on_border = torch.zeros(b, num_landmarks + 1, device=device).scatter_add_(
        1, flat, border.reshape(1, -1).expand(b, -1).float()
    )
    centres = torch.stack(sums, dim=-1) / counts.clamp(min=1).unsqueeze(-1)
    return BlobCentroids(centres[:, 1:], counts[:, 1:], on_border[:, 1:] > 0)


def gaussian_factors(
    centres: torch.Tensor, spatial_shape: tuple[int, ...], *, sigma_vox: float
) -> list[torch.Tensor]:
    """Separable 1-D Gaussian profiles, one (B, K, L_axis) tensor per axis, peak 1 at the centre.

    Their outer product is the Gaussian heatmap; losses contract with the factors directly, so the dense
    B x K x volume target is only built when a loss needs it.
    """
    if sigma_vox <= 0:
        raise ValueError(f"sigma_vox must be positive, got {sigma_vox}")
    factors = []
    for axis, length in enumerate(spatial_shape):
        coords = torch.arange(length, device=centres.device, dtype=torch.float32)
        diff = coords.view(1, 1, -1) - centres[..., axis : axis + 1]
        factors.append(torch.exp(-0.5 * (diff / sigma_vox) ** 2))
    return factors


def render_gaussian(
    centres: torch.Tensor, spatial_shape: tuple[int, ...], *, sigma_vox: float
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
