"""Bootstrap intervals over cases and the paired signed-rank test, against plain re-implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nnlandmark.evaluation.statistics import BootstrapSettings, case_bootstrap_means, wilcoxon_paired
from tests.evaluation.recompute import naive_ci


def sample(seed: int = 1) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    cases = [f"c{c}" for c in rng.integers(0, 7, size=60)]
    return cases, rng.gamma(2.0, 1.0, size=60)


def test_matches_a_loop_over_resampled_cases() -> None:
    cases, values = sample()
    settings = BootstrapSettings(n_resamples=500, seed=3, confidence=0.9)
    got = case_bootstrap_means(cases, {"v": values, "w": 2 * values}, settings=settings)
    by_case: dict[str, list[float]] = {}
    for c, v in zip(cases, values):
        by_case.setdefault(c, []).append(float(v))
    want = naive_ci(by_case, n_resamples=500, seed=3, confidence=0.9)
    assert got["v"] == pytest.approx(want, rel=1e-12)
    assert got["w"] == pytest.approx((2 * want[0], 2 * want[1]), rel=1e-12)  # same draws for every column


def test_interval_brackets_the_mean_and_narrows_with_confidence() -> None:
    cases, values = sample()
    wide = case_bootstrap_means(cases, {"v": values}, settings=BootstrapSettings(confidence=0.99))["v"]
    narrow = case_bootstrap_means(cases, {"v": values}, settings=BootstrapSettings(confidence=0.5))["v"]
    assert wide[0] < narrow[0] < values.mean() < narrow[1] < wide[1]


def test_seeded_and_order_independent() -> None:
    cases, values = sample()
    first = case_bootstrap_means(cases, {"v": values})
    order = np.random.default_rng(9).permutation(len(cases))
    again = case_bootstrap_means([cases[i] for i in order], {"v": values[order]})
    assert first == again
    other = case_bootstrap_means(cases, {"v": values}, settings=BootstrapSettings(seed=1))
    assert other != first


def test_one_case_has_no_interval() -> None:
    low, high = case_bootstrap_means(["a", "a"], {"v": np.array([1.0, 2.0])})["v"]
    assert math.isnan(low) and math.isnan(high)
    assert math.isnan(case_bootstrap_means([], {"v": np.array([])})["v"][0])


def test_bad_input_refused() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        case_bootstrap_means(["a", "b"], {"v": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="2 values for 3 case labels"):
        case_bootstrap_means(["a", "b", "c"], {"v": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match="confidence"):
        BootstrapSettings(confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        BootstrapSettings(n_resamples=0)


def test_settings_from_config_block() -> None:
    assert BootstrapSettings.from_config({"sdr_thresholds_mm": [2]}) == BootstrapSettings()
    assert BootstrapSettings.from_config({"bootstrap_resamples": 10, "bootstrap_seed": 4,
                                          "confidence_level": 0.9}) == BootstrapSettings(10, 4, 0.9)


def test_wilcoxon_is_scipys_two_sided_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2, 1, 30), rng.gamma(2, 1.3, 30)
    expected = stats.wilcoxon(a, b)
    assert wilcoxon_paired(a, b) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert all(math.isnan(v) for v in wilcoxon_paired(a, a))
    with pytest.raises(ValueError, match="equal lengths"):
        wilcoxon_paired(a, b[:3])
