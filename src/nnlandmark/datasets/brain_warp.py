"""A smooth invertible subject -> template map: affine about a centre plus Gaussian displacement bumps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROTATION_DEG = 20.0
SCALE = (0.9, 1.1)
TRANSLATION_MM = 5.0
N_BUMPS = 8
BUMP_WIDTH_MM = 40.0
BUMP_SIGMA_MM = 1.5  # per component of each bump's amplitude
# Bound on the displacement's Lipschitz constant; with scales >= 0.9, ||A^-1|| * LIPSCHITZ <= 0.33 < 1,
# which makes T one-to-one and the fixed-point inversion a contraction.
LIPSCHITZ = 0.3
_GRADIENT_PEAK = math.exp(-0.5)  # max |d/dr exp(-r^2 / 2w^2)| * w


def rotation_matrix(angles_rad: tuple[float, float, float]) -> np.ndarray:
    """Rz @ Ry @ Rx of the three angles (about x, y, z)."""
    ax, ay, az = angles_rad
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True, eq=False)
class Warp:
    """Subject -> template, LPS mm: T(x) = A (x - c) + c + t + sum_k a_k exp(-|x - m_k|^2 / (2 w^2)).

    ``A`` = R(angles) @ diag(scales); the bump centres ``m_k`` are subject points.
    """

    angles_deg: tuple[float, float, float]
    scales: tuple[float, float, float]
    centre: np.ndarray
    translation: np.ndarray
    bump_centres: np.ndarray
    bump_amplitudes: np.ndarray
    bump_width_mm: float

    @property
    def linear(self) -> np.ndarray:
        return rotation_matrix(tuple(math.radians(a) for a in self.angles_deg)) @ np.diag(self.scales)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """d(x) for (N, 3) subject points."""
        points = np.asarray(points, dtype=np.float64)
        out = np.zeros_like(points)
        scale = -0.5 / self.bump_width_mm**2
        for centre, amplitude in zip(self.bump_centres, self.bump_amplitudes):
            weight = np.exp(scale * np.sum((points - centre) ** 2, axis=1))
            out += weight[:, None] * amplitude
        return out

    def apply(self, points: np.ndarray) -> np.ndarray:
        """T(x): (N, 3) subject LPS mm -> (N, 3) template LPS mm."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        affine = (points - self.centre) @ self.linear.T + self.centre + self.translation
        return affine + self.displacement(points)

    def lipschitz(self) -> float:
        """An upper bound of the displacement's Lipschitz constant."""
        return float(np.sum(np.linalg.norm(self.bump_amplitudes, axis=1))) * _GRADIENT_PEAK / self.bump_width_mm

    def invert(self, targets: np.ndarray, *, tol_mm: float = 1e-9, max_iter: int = 200) -> np.ndarray:
        """The subject points p with T(p) = q for (N, 3) template points q, by the contraction
        p <- c + A^-1 (q - c - t - d(p)); stops when every |T(p) - q| < ``tol_mm``."""
        targets = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
        inverse = np.linalg.inv(self.linear)
        base = targets - self.centre - self.translation
        points = base @ inverse.T + self.centre
        for _ in range(max_iter):
            points = (base - self.displacement(points)) @ inverse.T + self.centre
            if np.all(np.linalg.norm(self.apply(points) - targets, axis=1) < tol_mm):
                return points
        worst = float(np.max(np.linalg.norm(self.apply(points) - targets, axis=1)))
        raise RuntimeError(f"warp inversion did not reach {tol_mm} mm in {max_iter} steps (worst {worst} mm); "
                           f"displacement Lipschitz bound {self.lipschitz():.3f}")


def sample_warp(rng: np.random.Generator, *, centre: np.ndarray, extent_mm: np.ndarray) -> Warp:
    """Draw a :class:`Warp` about ``centre``; bump centres inside the central 80 % of ``extent_mm``."""
    centre = np.asarray(centre, dtype=np.float64)
    angles = tuple(float(a) for a in rng.uniform(-ROTATION_DEG, ROTATION_DEG, size=3))
    scales = tuple(float(s) for s in rng.uniform(*SCALE, size=3))
    translation = rng.uniform(-TRANSLATION_MM, TRANSLATION_MM, size=3)
    bump_centres = centre + rng.uniform(-0.4, 0.4, size=(N_BUMPS, 3)) * np.asarray(extent_mm, dtype=np.float64)
    amplitudes = rng.normal(0.0, BUMP_SIGMA_MM, size=(N_BUMPS, 3))
    bound = float(np.sum(np.linalg.norm(amplitudes, axis=1))) * _GRADIENT_PEAK / BUMP_WIDTH_MM
    if bound > LIPSCHITZ:
        amplitudes *= LIPSCHITZ / bound
    return Warp(angles_deg=angles, scales=scales, centre=centre, translation=translation,
                bump_centres=bump_centres, bump_amplitudes=amplitudes, bump_width_mm=BUMP_WIDTH_MM)
