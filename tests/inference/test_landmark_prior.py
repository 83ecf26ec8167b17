"""The guided mode's prior: training positions as grid fractions, and back to voxels of another image."""

from __future__ import annotations

import json

import numpy as np

from nnlandmark.inference.landmark_prior import LandmarkPrior, case_fractions
from nnlandmark.landmarks import LandmarkSet
from tests.inference import perfect_model as pm


def test_fractions_mean_sd_and_absent_landmarks() -> None:
    shape = (40, 60, 80)
    properties = pm.identity_properties(shape)  # world (x, y, z) mm = voxel (x, y, z)
    cases = []
    for shift in (-2.0, 0.0, 2.0):
        points = np.array([[40.0 + shift, 30.0, 20.0], [10.0, 50.0, 30.0 + shift]])  # (x, y, z)
        present = [True, shift != 2.0]
        cases.append(case_fractions(LandmarkSet(("a", "b"), points, present), preprocessed_shape=shape,
                                    properties=properties, transpose_forward=(0, 1, 2)))
    prior = LandmarkPrior.from_fractions(cases)
    assert list(prior.n) == [3, 2]
    np.testing.assert_allclose(prior.centres(shape), [[20.0, 30.0, 40.0], [29.0, 50.0, 10.0]], atol=1e-9)
    np.testing.assert_allclose(prior.spread(shape)[0], [0.0, 0.0, np.std([-2.0, 0.0, 2.0])], atol=1e-9)
    # an image twice as large: the same fractions, twice the voxels
    np.testing.assert_allclose(prior.centres((80, 120, 160))[0], [40.5, 60.5, 80.5], atol=1e-9)
    again = LandmarkPrior.from_dict(json.loads(json.dumps(prior.to_dict())))
    np.testing.assert_allclose(again.mean, prior.mean, atol=1e-5)


def test_a_landmark_never_present_has_no_prior() -> None:
    shape = (10, 10, 10)
    fractions = case_fractions(LandmarkSet(("a",), [[np.nan] * 3], [False]), preprocessed_shape=shape,
                               properties=pm.identity_properties(shape), transpose_forward=(0, 1, 2))
    prior = LandmarkPrior.from_fractions([fractions])
    assert prior.n[0] == 0 and prior.to_dict()["mean"] == [None]
    assert np.all(np.isnan(LandmarkPrior.from_dict(prior.to_dict()).centres(shape)))
