"""Left/right mirror pairs are found from the names real datasets use, and kept only where the data agree."""

from __future__ import annotations

import numpy as np
import pytest

from nnlandmark.datasets.afids import FIDUCIALS
from nnlandmark.datasets.mml import LANDMARK_NAMES as MML_NAMES
from nnlandmark.landmarks import LandmarkSet
from nnlandmark.landmarks.mirror_pairs import mirror_pairs_from_names, pair_indices, pairs_on_their_sides


def test_pairs_of_the_built_in_datasets() -> None:
    assert mirror_pairs_from_names(MML_NAMES) == [(f"L{s}", f"R{s}") for s in "0abcdef"]
    acronyms = mirror_pairs_from_names([acronym for _, acronym in FIDUCIALS])
    descriptions = mirror_pairs_from_names([text for text, _ in FIDUCIALS])
    assert len(acronyms) == len(descriptions) == 11
    assert ("LSLMS", "RSLMS") in acronyms and ("L LV at AC", "R LV at AC") in descriptions
    assert not {"AC", "PC", "GENU", "SPLE"} & {n for pair in acronyms for n in pair}


@pytest.mark.parametrize(("names", "pairs"), [
    (["iliac_end_L", "iliac_end_R", "navel"], [("iliac_end_L", "iliac_end_R")]),
    (["left-eye", "Right-eye"], [("left-eye", "Right-eye")]),
    (["LeftOrbit", "RightOrbit"], [("LeftOrbit", "RightOrbit")]),
    (["lt_condyle", "rt_condyle"], [("lt_condyle", "rt_condyle")]),
    (["Lateral", "Rostral"], []),            # glued L/R with different rests: no pair
    (["L1", "L2", "R1"], [("L1", "R1")]),     # vertebra-like names pair only where both sides exist
    (["a_L", "b_R"], []),
])
def test_pairs_differ_only_in_a_side_marker(names: list[str], pairs: list[tuple[str, str]]) -> None:
    assert mirror_pairs_from_names(names) == pairs


def _case(left_x: float, right_x: float, *, right_present: bool = True) -> LandmarkSet:
    return LandmarkSet(("a_L", "a_R"), [[left_x, 0, 0], [right_x, 0, 0]], [True, right_present])


def test_a_pair_is_kept_only_if_every_reference_puts_left_at_larger_lps_x() -> None:
    pairs = [("a_L", "a_R")]
    assert pairs_on_their_sides(pairs, [_case(30, -30), _case(10, -12)]) == (pairs, [])
    # radiological naming (or a mislabelled case): not used for decoding
    assert pairs_on_their_sides(pairs, [_case(30, -30), _case(-10, 12)]) == ([], pairs)
    # never seen with both present: nothing shows the sides
    assert pairs_on_their_sides(pairs, [_case(30, np.nan, right_present=False)]) == ([], pairs)


def test_pair_indices_name_the_channels_and_refuse_unknown_names() -> None:
    assert pair_indices([["b_L", "b_R"]], ["x", "b_R", "b_L"]) == ((2, 1),)
    with pytest.raises(ValueError, match="c_L"):
        pair_indices([["c_L", "c_R"]], ["c_R"])
