"""Different landmarks at different places: two channels that peak on one structure are parted after decoding.

A network that sees one patch at a time can take one structure for another that looks alike in the patch
(a kidney pole for a cone apex), so two channels peak on the same spot. Where the training references always
kept two landmarks apart (:mod:`nnlandmark.landmarks.separation`), that cannot be right: of two such channels
that peak at the same place (within 2 sigma, as for mirror pairs), the one more confident there keeps it and
the other takes its own best local maximum outside that neighbourhood. A channel that has no other mode
comes out wherever its next maximum is, with the low confidence it has there (absent below the model's
threshold). Mirror pairs are left to :mod:`nnlandmark.inference.pair_sides`, which runs first and has
already put the two on different places: a moved landmark never takes its twin's place.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch

from nnlandmark.inference.decode import Activation, decode_at, log_heatmap
from nnlandmark.inference.pair_sides import best_mode_outside, exclusion_radius, same_place


def close_twins(names: Sequence[str], *, may_share: Sequence[Sequence[str]] | None,
                mirror_pairs: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The ``mirror_pairs`` among ``may_share`` (the model's record): twins the training references put close."""
    shared = {frozenset(pair) for pair in may_share or ()}
    return tuple(pair for pair in mirror_pairs if frozenset(names[i] for i in pair) in shared)


def apart_pairs(names: Sequence[str], *, may_share: Sequence[Sequence[str]] | None,
                mirror_pairs: Sequence[tuple[int, int]] = ()) -> tuple[tuple[int, int], ...]:
    """Index pairs (i < j) of ``names`` that decoding keeps apart: all but ``may_share`` and the mirror pairs.

    ``may_share`` is the model's record (``nnlandmark.json``); ``None`` (a model trained before it existed)
    keeps no pair apart.
    """
    if may_share is None:
        return ()
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({n for pair in may_share for n in pair if n not in index})
    if unknown:
        raise ValueError(f"may_share_place names landmarks the model does not have: {', '.join(unknown)}")
    exempt = {frozenset((index[a], index[b])) for a, b in may_share}
    exempt |= {frozenset(pair) for pair in mirror_pairs}
    return tuple((i, j) for i, j in itertools.combinations(range(len(names)), 2) if frozenset((i, j)) not in exempt)


def part_places(
    positions: np.ndarray,
    confidences: np.ndarray,
    *,
    apart: Sequence[tuple[int, int]],
    sigma_vox: Sequence[float],
    relocate: Callable[[int, list[np.ndarray]], tuple[np.ndarray, float] | None],
    mirror_pairs: Sequence[tuple[int, int]] = (),
) -> list[str]:
    """Part every ``apart`` pair at one place; ``positions`` and ``confidences`` are updated in place.

    ``relocate(k, barred)`` gives landmark ``k``'s next position and confidence away from the ``barred`` places
    (``None`` if it has none); the full and the guided mode each find it their own way. A moved landmark is
    also barred from its mirror twin's place. Each move bars one more place, so the loop ends.
    """
    twin = {a: b for pair in mirror_pairs for a, b in (pair, pair[::-1])}
    sigma = np.asarray(sigma_vox, dtype=np.float64)
    barred: dict[int, list[np.ndarray]] = {}
    stuck: set[tuple[int, int]] = set()
    changes: list[str] = []
    for _ in range(2 * len(apart) + 1):
        clash = next(((i, j) for i, j in apart if (i, j) not in stuck
                      and same_place(positions[i], positions[j], sigma)), None)
        if clash is None:
            break
        i, j = clash
        keep, move = (i, j) if confidences[i] >= confidences[j] else (j, i)
        barred.setdefault(move, []).append(positions[keep].copy())
        if move in twin:  # pair_sides settled the pair's places: never the twin's
            barred[move].append(positions[twin[move]].copy())
        found = relocate(move, barred[move])
        if found is None:
            stuck.add(clash)
            continue
        positions[move], confidences[move] = found
        changes.append(f"landmark {move} peaked where landmark {keep} is (more confident there); "
                       f"moved to its next mode, confidence {confidences[move]:.3f}")
    return changes


def part_shared_places(
    logits: torch.Tensor,
    positions: np.ndarray,
    confidences: np.ndarray,
    *,
    apart: Sequence[tuple[int, int]],
    activation: Activation,
    radius: Sequence[int],
    sigma_vox: Sequence[float],
    mirror_pairs: Sequence[tuple[int, int]] = (),
    first_channel: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Positions (K, 3, array order) and confidences with no ``apart`` pair at one place; one line per move.

    ``logits`` (C, Z, Y, X): landmark k in channel ``first_channel + k``; a moved landmark takes its channel's
    best local maximum outside the barred places (:func:`part_places`). Returns copies.
    """
    positions, confidences = positions.copy(), confidences.copy()
    exclusion = exclusion_radius(np.asarray(sigma_vox, dtype=np.float64))

    def relocate(k: int, barred: list[np.ndarray]) -> tuple[np.ndarray, float] | None:
        channel = logits[first_channel + k]
        place = best_mode_outside(log_heatmap(channel, activation=activation), barred, exclusion)
        return None if place is None else decode_at(channel, place, activation=activation, radius=radius)

    changes = part_places(positions, confidences, apart=apart, sigma_vox=sigma_vox, relocate=relocate,
                          mirror_pairs=mirror_pairs)
    return positions, confidences, changes
