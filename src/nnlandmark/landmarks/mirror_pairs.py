"""Left/right mirror pairs: found from landmark names, kept only where the reference landmarks agree.

A network that sees one patch of a large image cannot always tell a left structure from its right twin; the
image header can. A pair is two names that differ only in a side marker:

- a side word or letter as a separate token: ``iliac_end_L`` / ``iliac_end_R``, ``R superior LMS`` /
  ``L superior LMS``, ``left-eye`` / ``right-eye`` (``L``, ``R``, ``left``, ``right``, ``lt``, ``rt``, any case);
- a leading ``L`` / ``R`` glued to the rest: ``La`` / ``Ra`` (MML), ``LSLMS`` / ``RSLMS`` (AFIDs acronyms),
  or a leading ``Left`` / ``Right``.

Patient left is +x in LPS. A pair is used only if, in every reference case where both are present, the
left-named landmark lies at larger LPS x than the right-named one; a dataset named the other way round (or
whose names only look like pairs) keeps its landmarks unpaired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nnlandmark.landmarks.landmark_set import LandmarkSet

_TOKEN = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]+")
_SIDE_WORDS = {"l": "L", "left": "L", "lt": "L", "r": "R", "right": "R", "rt": "R"}
_GLUED = re.compile(r"^(Left|Right|L|R)(?=[A-Z0-9a-z])(.+)$")


def _templates(name: str) -> list[tuple[str, str]]:
    """(template, side) readings of ``name``: each side token replaced by a placeholder, then a glued prefix."""
    out = []
    tokens = _TOKEN.findall(name)
    for i, token in enumerate(tokens):
        side = _SIDE_WORDS.get(token.lower())
        if side is not None and token.isalpha():
            out.append(("".join(tokens[:i] + ["\0"] + tokens[i + 1:]).lower(), side))
    glued = _GLUED.match(name)
    if glued is not None:
        out.append(("\1" + glued.group(2).lower(), glued.group(1)[0]))
    return out


def mirror_pairs_from_names(names: Sequence[str]) -> list[tuple[str, str]]:
    """(left, right) name pairs, in the order of the left names; each name in at most one pair."""
    by_template: dict[str, dict[str, list[str]]] = {}
    for name in names:
        for template, side in _templates(name):
            by_template.setdefault(template, {"L": [], "R": []})[side].append(name)
    pairs, used = [], set()
    for name in names:
        for template, side in _templates(name):
            sides = by_template[template]
            if side != "L" or len(sides["L"]) != 1 or len(sides["R"]) != 1:
                continue
            right = sides["R"][0]
            if name not in used and right not in used and right != name:
                pairs.append((name, right))
                used.update((name, right))
    return pairs


def pairs_on_their_sides(
    pairs: Iterable[tuple[str, str]], references: Iterable[LandmarkSet]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split ``pairs`` into those whose left landmark is at larger LPS x in every reference case, and the rest.

    A pair never seen with both landmarks present is kept out (nothing shows its sides).
    """
    pairs = list(pairs)
    seen = dict.fromkeys(pairs, 0)
    wrong = set()
    for reference in references:
        index = {n: i for i, n in enumerate(reference.names)}
        for left, right in pairs:
            if left not in index or right not in index:
                continue
            i, j = index[left], index[right]
            if not (reference.present[i] and reference.present[j]):
                continue
            seen[(left, right)] += 1
            if not reference.points[i][0] > reference.points[j][0]:
                wrong.add((left, right))
    kept = [p for p in pairs if seen[p] and p not in wrong]
    return kept, [p for p in pairs if p not in kept]


def pair_indices(pairs: Iterable[Sequence[str]], names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) channel indices into ``names`` of name ``pairs`` (as a model folder records them)."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for left, right in pairs:
        if left not in index or right not in index:
            raise ValueError(f"mirror pair ({left}, {right}) names a landmark the model does not have")
        out.append((index[left], index[right]))
    return tuple(out)

