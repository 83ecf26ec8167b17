"""Analytic demo anatomy in canonical millimetres: sampling, structural landmarks and intensity rendering."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Only +, -, *, /, sqrt and clip touch the voxel arrays, and 3x3 algebra runs on Python floats: these are
# correctly rounded everywhere, so the volumes are bit-identical across CPUs and numpy builds (numpy's
# SIMD exp/sin are not).

Vec = tuple[float, float, float]
Matrix = tuple[Vec, Vec, Vec]
Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


class Phantom(Protocol):
    """What the image generator needs of an anatomy: its landmarks in canonical mm and its intensities."""

    @property
    def absent(self) -> tuple[str, ...]: ...

    @property
    def names(self) -> tuple[str, ...]: ...

    def landmarks(self) -> dict[str, Vec]: ...

    def render(self, q: Coords, *, edge_mm: float) -> np.ndarray: ...


SIDES = ("L", "R")
LANDMARK_NAMES: tuple[str, ...] = (
    "kidney_upper_pole_L",
    "kidney_lower_pole_L",
    "kidney_upper_pole_R",
    "kidney_lower_pole_R",
    "aortic_bifurcation",
    "iliac_end_L",
    "iliac_end_R",
    "spine_tip",
    "sphere_centre_L",
    "sphere_centre_R",
    "cone_apex",
    "navel",
)
REMOVABLE: tuple[str, ...] = ("sphere_centre_L", "sphere_centre_R")
INTENSITY: Mapping[str, float] = {
    "background": 0.0,
    "body": 100.0,
    "fluid": 30.0,
    "kidney": 170.0,
    "cone": 210.0,
    "vessel": 250.0,
    "shell": 300.0,
    "bone": 380.0,
}


def rotation(ax: float, ay: float, az: float) -> Matrix:
    """Rotation matrix Rz @ Ry @ Rx for angles in radians (canonical x = left, y = posterior, z = superior)."""
    cx, sx = math.cos(ax), math.sin(ax)
    cy, sy = math.cos(ay), math.sin(ay)
    cz, sz = math.cos(az), math.sin(az)
    rx = ((1.0, 0.0, 0.0), (0.0, cx, -sx), (0.0, sx, cx))
    ry = ((cy, 0.0, sy), (0.0, 1.0, 0.0), (-sy, 0.0, cy))
    rz = ((cz, -sz, 0.0), (sz, cz, 0.0), (0.0, 0.0, 1.0))
    return matmul(rz, matmul(ry, rx))


def matmul(a: Matrix, b: Matrix) -> Matrix:
    """3x3 matrix product on Python floats."""
    return tuple(
        tuple(a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c] for c in range(3)) for r in range(3)
    )


def transpose(a: Matrix) -> Matrix:
    """3x3 transpose."""
    return tuple(tuple(a[c][r] for c in range(3)) for r in range(3))


def apply(a: Matrix, v: Vec) -> Vec:
    """Matrix times vector on Python floats."""
    return tuple(a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2] for r in range(3))


def add(a: Vec, b: Vec, scale: float = 1.0) -> Vec:
    """a + scale * b."""
    return (a[0] + scale * b[0], a[1] + scale * b[1], a[2] + scale * b[2])


def unit(v: Vec) -> Vec:
    """v / |v|."""
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / n, v[1] / n, v[2] / n)


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with semi-axes along the columns of ``frame`` (a rotation)."""

    centre: Vec
    semi_axes: Vec
    frame: Matrix


@dataclass(frozen=True)
class Capsule:
    """Tube of ``radius`` around the segment ``start``-``end``, with round caps."""

    start: Vec
    end: Vec
    radius: float

    def tip(self) -> Vec:
        """The extreme surface point beyond ``end`` along the tube's axis."""
        return add(self.end, unit(add(self.end, self.start, -1.0)), self.radius)


@dataclass(frozen=True)
class HollowSphere:
    """Bright spherical shell (``inner`` to ``outer`` radius) around a dark fluid core."""

    centre: Vec
    outer: float
    inner: float


@dataclass(frozen=True)
class Cone:
    """Solid cone from ``apex`` along unit ``axis`` to a base disc of ``radius`` at ``height``."""

    apex: Vec
    axis: Vec
    height: float
    radius: float


@dataclass(frozen=True)
class Anatomy:
    """One case's structures in canonical mm; ``absent`` names landmarks whose structure is not drawn."""

    body: Ellipsoid
    navel_centre: Vec
    navel_radius: float
    kidneys: Mapping[str, Ellipsoid]
    aorta: Capsule
    iliacs: Mapping[str, Capsule]
    spine: Capsule
    spheres: Mapping[str, HollowSphere]
    cone: Cone
    absent: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Landmark names in channel order."""
        return LANDMARK_NAMES

    def landmarks(self) -> dict[str, Vec]:
        """Canonical position of every landmark (see :func:`canonical_landmarks`)."""
        return canonical_landmarks(self)

    def render(self, q: Coords, *, edge_mm: float) -> np.ndarray:
        """Noise-free intensities at canonical points (see :func:`render_anatomy`)."""
        return render_anatomy(self, q, edge_mm=edge_mm)


def sample_anatomy(rng: np.random.Generator, *, absent: tuple[str, ...] = ()) -> Anatomy:
    """Draw one case's anatomy: mean shapes plus a few mm (and degrees) of per-case variation."""
    unknown = [n for n in absent if n not in REMOVABLE]
    if unknown:
        raise ValueError(f"only {', '.join(REMOVABLE)} can be absent, got {', '.join(unknown)}")

    def jit(mean: float, half: float) -> float:
        return float(mean + rng.uniform(-half, half))

    body = Ellipsoid((0.0, 0.0, 0.0), (jit(40, 3), jit(30, 2), jit(70, 5)), rotation(0.0, 0.0, 0.0))
    navel_z, navel_radius = jit(-6, 3), jit(4.5, 0.5)
    ratio = navel_z / body.semi_axes[2]
    surface_y = -body.semi_axes[1] * math.sqrt(1.0 - ratio * ratio)
    sign = {"L": 1.0, "R": -1.0}
    kidneys, iliacs, spheres = {}, {}, {}
    bifurcation = (jit(3, 1.5), jit(2, 1.5), jit(-4, 4))
    for side in SIDES:
        s = sign[side]
        # Upper pole medial (coronal tilt), plus a little sagittal tilt and axial spin.
        tilt = s * math.radians(jit(12, 5))
        frame = rotation(math.radians(jit(0, 6)), -tilt, math.radians(jit(0, 10)))
        kidneys[side] = Ellipsoid(
            (jit(s * 22, 1.5), jit(11, 1.5), jit(8, 2)), (jit(5.5, 0.4), jit(4.5, 0.4), jit(12, 1)), frame
        )
        end = (jit(s * 18, 2), jit(1, 2), jit(-24, 2))
        iliacs[side] = Capsule(bifurcation, end, jit(3.6, 0.3))
        spheres[side] = HollowSphere(
            (jit(s * 15, 1.5), jit(-12, 1.5), jit(-14, 2)), jit(7.5, 0.5), jit(4.5, 0.4)
        )
    aorta = Capsule((bifurcation[0], bifurcation[1], 90.0), bifurcation, jit(5.0, 0.4))
    spine_radius = jit(6.5, 0.5)
    spine_end = (jit(0, 1), jit(17, 1.5), jit(24, 3) - spine_radius)
    spine = Capsule((spine_end[0], spine_end[1], -90.0), spine_end, spine_radius)
    cone = Cone(
        (jit(-11, 2), jit(-9, 2), jit(26, 2)),
        unit((jit(0, 0.15), jit(0, 0.15), -1.0)),
        jit(14, 1.5),
        jit(7, 0.7),
    )
    return Anatomy(
        body=body,
        navel_centre=(0.0, surface_y, navel_z),
        navel_radius=navel_radius,
        kidneys=kidneys,
        aorta=aorta,
        iliacs=iliacs,
        spine=spine,
        spheres=spheres,
        cone=cone,
        absent=tuple(absent),
    )


def canonical_landmarks(anatomy: Anatomy) -> dict[str, Vec]:
    """Every landmark's canonical position, absent ones included (where the structure would be)."""
    out: dict[str, Vec] = {}
    for side in SIDES:
        kidney = anatomy.kidneys[side]
        long_axis = tuple(kidney.frame[r][2] for r in range(3))
        if long_axis[2] < 0:
            long_axis = (-long_axis[0], -long_axis[1], -long_axis[2])
        out[f"kidney_upper_pole_{side}"] = add(kidney.centre, long_axis, kidney.semi_axes[2])
        out[f"kidney_lower_pole_{side}"] = add(kidney.centre, long_axis, -kidney.semi_axes[2])
    out["aortic_bifurcation"] = anatomy.aorta.end
    for side in SIDES:
        out[f"iliac_end_{side}"] = anatomy.iliacs[side].tip()
    out["spine_tip"] = anatomy.spine.tip()
    for side in SIDES:
        out[f"sphere_centre_{side}"] = anatomy.spheres[side].centre
    out["cone_apex"] = anatomy.cone.apex
    out["navel"] = add(anatomy.navel_centre, (0.0, 1.0, 0.0), anatomy.navel_radius)
    return {name: out[name] for name in LANDMARK_NAMES}


def occupancy(distance: np.ndarray, edge_mm: float) -> np.ndarray:
    """Smoothstep of the signed distance (negative inside) over +-``edge_mm``: 1 inside, 0 outside."""
    t = np.clip(0.5 - distance / (2.0 * edge_mm), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _offset(q: Coords, centre: Vec) -> Coords:
    return (q[0] - centre[0], q[1] - centre[1], q[2] - centre[2])


def _norm(v: Coords) -> np.ndarray:
    return np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def _sd_sphere(q: Coords, centre: Vec, radius: float) -> np.ndarray:
    return _norm(_offset(q, centre)) - radius


def _sd_ellipsoid(q: Coords, e: Ellipsoid) -> np.ndarray:
    # The k0 * (k0 - 1) / k1 bound: exact on the surface, close to it nearby (all edges care about).
    d = _offset(q, e.centre)
    f = e.frame
    local = [d[0] * f[0][c] + d[1] * f[1][c] + d[2] * f[2][c] for c in range(3)]
    a = e.semi_axes
    k0 = _norm(tuple(local[c] / a[c] for c in range(3)))
    k1 = _norm(tuple(local[c] / (a[c] * a[c]) for c in range(3)))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def sd_capsule(q: Coords, c: Capsule) -> np.ndarray:
    """Signed distance (mm, negative inside) from points ``q`` to capsule ``c``."""
    pa = _offset(q, c.start)
    ba = add(c.end, c.start, -1.0)
    h = np.clip(
        (pa[0] * ba[0] + pa[1] * ba[1] + pa[2] * ba[2]) / (ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2]),
        0.0,
        1.0,
    )
    return _norm((pa[0] - ba[0] * h, pa[1] - ba[1] * h, pa[2] - ba[2] * h)) - c.radius


def _sd_cone(q: Coords, c: Cone) -> np.ndarray:
    d = _offset(q, c.apex)
    along = d[0] * c.axis[0] + d[1] * c.axis[1] + d[2] * c.axis[2]
    radial = np.sqrt(np.maximum(d[0] * d[0] + d[1] * d[1] + d[2] * d[2] - along * along, 0.0))
    slant = math.sqrt(c.height * c.height + c.radius * c.radius)
    side = radial * (c.height / slant) - along * (c.radius / slant)
    return np.maximum(side, along - c.height)


def render_anatomy(anatomy: Anatomy, q: Coords, *, edge_mm: float) -> np.ndarray:
    """Noise-free intensities at canonical points ``q`` (three broadcastable arrays of x, y, z in mm)."""
    shape = np.broadcast_shapes(q[0].shape, q[1].shape, q[2].shape)
    image = np.full(shape, INTENSITY["background"])

    def paint(share: np.ndarray, tissue: str) -> None:
        image[...] += share * (INTENSITY[tissue] - image)

    notch = occupancy(_sd_sphere(q, anatomy.navel_centre, anatomy.navel_radius), edge_mm)
    paint(occupancy(_sd_ellipsoid(q, anatomy.body), edge_mm) * (1.0 - notch), "body")
    for side in SIDES:
        paint(occupancy(_sd_ellipsoid(q, anatomy.kidneys[side]), edge_mm), "kidney")
    vessels = np.minimum(sd_capsule(q, anatomy.aorta), sd_capsule(q, anatomy.iliacs["L"]))
    paint(occupancy(np.minimum(vessels, sd_capsule(q, anatomy.iliacs["R"])), edge_mm), "vessel")
    paint(occupancy(sd_capsule(q, anatomy.spine), edge_mm), "bone")
    for side in SIDES:
        if f"sphere_centre_{side}" in anatomy.absent:
            continue
        sphere = anatomy.spheres[side]
        paint(occupancy(_sd_sphere(q, sphere.centre, sphere.outer), edge_mm), "shell")
        paint(occupancy(_sd_sphere(q, sphere.centre, sphere.inner), edge_mm), "fluid")
    paint(occupancy(_sd_cone(q, anatomy.cone), edge_mm), "cone")
    return image
