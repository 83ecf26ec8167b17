"""A fold decodes its validation with what its own training cases show: no validation case leaks in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnlandmark.inference.landmark_prior import training_prior
from nnlandmark.landmarks import LandmarkSet, write_landmarks
from nnlandmark.training.run_fold import training_references

NAMES = ("a", "b")
SHAPE = (10, 20, 40)


class Dataset:
    """What training_prior reads of nnU-Net's preprocessed dataset: identifiers, shapes and properties."""

    identifiers = ["c0", "c1", "c2"]

    def load_case(self, key: str) -> tuple[np.ndarray, None, None, dict]:
        properties = {"shape_before_cropping": SHAPE, "shape_after_cropping_and_before_resampling": SHAPE,
                      "bbox_used_for_cropping": [[0, s] for s in SHAPE],
                      "sitk_stuff": {"spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0),
                                     "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}}
        return np.zeros((1, *SHAPE), np.float32), None, None, properties


def test_references_and_prior_of_the_folds_own_training_cases_only(tmp_path: Path) -> None:
    (tmp_path / "landmarksTr").mkdir()
    x = {"c0": 4.0, "c1": 8.0, "c2": 36.0}  # c2, the validation case, lies far out
    for case, value in x.items():
        write_landmarks(tmp_path / "landmarksTr" / f"{case}.json",
                        LandmarkSet(NAMES, np.array([[value, 5.0, 5.0], [value, 6.0, 5.0]]), [True, True]))
    own = {"c0", "c1"}
    assert [r.points[0, 0] for r in training_references(tmp_path, own)] == [4.0, 8.0]
    assert len(training_references(tmp_path)) == 3
    prior = training_prior(Dataset(), reference_folder=tmp_path / "landmarksTr", names=NAMES,
                           transpose_forward=(0, 1, 2), cases=own)
    assert prior.n.tolist() == [2, 2]
    np.testing.assert_allclose(prior.centres(SHAPE)[0, 2], 6.0)  # the mean x of c0 and c1 only
    everyone = training_prior(Dataset(), reference_folder=tmp_path / "landmarksTr", names=NAMES,
                              transpose_forward=(0, 1, 2))
    assert everyone.n.tolist() == [3, 3]
