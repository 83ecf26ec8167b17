"""Real-size phantom anatomy: the demo anatomy plus a tight landmark cluster and a close landmark pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlandmark.datasets.demo_phantom import (
    INTENSITY,
    LANDMARK_NAMES,
    Anatomy,
    Capsule,
    Coords,
    Vec,
    add,
    occupancy,
    sd_capsule,
    unit,
)

# A T-shaped bar near the midline whose four landmarks lie within 10 mm of each other, as the deep-brain
# AFIDs do; its two ends are a left/right mirror pair that only the context tells apart.
CLUSTER: tuple[str, ...] = ("tbar_end_L", "tbar_end_R", "tbar_junction", "tbar_stalk_tip")
# Two pins meeting tip to tip across a gap of 2.4-2.8 in-plane voxels (as upper and lower incisors do).
CLOSE_PAIR: tuple[str, ...] = ("pin_tip_anterior", "pin_tip_posterior")
REALSIZE_NAMES: tuple[str, ...] = LANDMARK_NAMES + CLUSTER + CLOSE_PAIR


@dataclass(frozen=True)
class RealsizeAnatomy:
    """The demo anatomy (``base``) with a T-bar (``bar`` plus ``stalk``) and two facing ``pins``."""

    base: Anatomy
    bar: Capsule
    stalk: Capsule
    pins: tuple[Capsule, Capsule]

    @property
    def absent(self) -> tuple[str, ...]:
        return self.base.absent

    @property
    def names(self) -> tuple[str, ...]:
        return REALSIZE_NAMES

    def landmarks(self) -> dict[str, Vec]:
        """Canonical position of every landmark, absent ones included (where their structure would be)."""
        out = self.base.landmarks()
        out["tbar_end_L"] = self.bar.tip()
        out["tbar_end_R"] = Capsule(self.bar.end, self.bar.start, self.bar.radius).tip()
        out["tbar_junction"] = self.stalk.start
        out["tbar_stalk_tip"] = self.stalk.tip()
        out["pin_tip_anterior"] = self.pins[0].tip()
        out["pin_tip_posterior"] = self.pins[1].tip()
        return {name: out[name] for name in REALSIZE_NAMES}

    def render(self, q: Coords, *, edge_mm: float) -> np.ndarray:
        """Noise-free intensities at canonical points: the demo's, with the T-bar and the pins on top."""
        image = self.base.render(q, edge_mm=edge_mm)
        tbar = occupancy(np.minimum(sd_capsule(q, self.bar), sd_capsule(q, self.stalk)), edge_mm)
        image += tbar * (INTENSITY["vessel"] - image)
        pins = occupancy(np.minimum(sd_capsule(q, self.pins[0]), sd_capsule(q, self.pins[1])), edge_mm)
        image += pins * (INTENSITY["bone"] - image)
        return image


def sample_realsize_anatomy(base: Anatomy, rng: np.random.Generator, *, pin_gap_mm: float) -> RealsizeAnatomy:
    """Add the T-bar and the pins to ``base``; the pins' tips are ``pin_gap_mm`` (canonical mm) apart."""

    def jit(mean: float, half: float) -> float:
        return float(mean + rng.uniform(-half, half))

    # Bar along x (left-right), centred on the midline in front of the aorta and beside the cone: tip to
    # tip at most 2 * (2.7 + 1.8) = 9 mm, under 10 mm at the pose's largest scale (1.05).
    centre = (jit(0, 0.4), jit(-18, 1.5), jit(20, 2))
    axis = unit((1.0, jit(0, 0.1), jit(0, 0.1)))
    half = jit(2.5, 0.2)
    bar = Capsule(add(centre, axis, -half), add(centre, axis, half), jit(1.7, 0.1))
    # Stalk from the bar's middle, posterior and a little inferior: its tip ~4 mm from the junction.
    stalk_axis = unit((jit(0, 0.1), 1.0, jit(-0.4, 0.15)))
    stalk = Capsule(centre, add(centre, stalk_axis, jit(2.6, 0.2)), jit(1.3, 0.1))
    # Pins along y (in-plane, so the gap is resolved) above the left kidney, clear of every other structure.
    gap_centre = (jit(20, 1.5), jit(-2, 1.5), jit(32, 2))
    pin_axis = unit((jit(0, 0.1), 1.0, jit(0, 0.1)))
    radius, length = jit(1.6, 0.1), jit(7.0, 0.5)
    front_tip = add(gap_centre, pin_axis, -pin_gap_mm / 2)
    back_tip = add(gap_centre, pin_axis, pin_gap_mm / 2)
    front = Capsule(add(front_tip, pin_axis, -(radius + length)), add(front_tip, pin_axis, -radius), radius)
    back = Capsule(add(back_tip, pin_axis, radius + length), add(back_tip, pin_axis, radius), radius)
    return RealsizeAnatomy(base=base, bar=bar, stalk=stalk, pins=(front, back))
