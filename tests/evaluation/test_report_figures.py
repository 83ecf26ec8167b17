"""Report figures: inter-rater curve, model vs raters with CIs, qualitative slices on an oblique image."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from nnlandmark.evaluation.errors import collect_errors, landmark_sets_from_errors
from nnlandmark.evaluation.figure_io import message_figure
from nnlandmark.evaluation.interrater import REFERENCE, consensus_errors, pairwise_rater_errors
from nnlandmark.evaluation.interrater_summary import interrater_per_landmark, summarize_consensus
from nnlandmark.evaluation.plots import plot_cumulative_errors
from nnlandmark.evaluation.qualitative import QualitativeCase, focus_landmark, plot_qualitative, select_cases
from nnlandmark.evaluation.rater_plots import plot_model_vs_raters
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.landmarks import ImageGeometry, LandmarkSet
from tests.conftest import oblique_direction
from tests.evaluation.test_plots import assert_real_png, synthetic_errors

NAMES = ("A", "B", "C")


def image(geometry: ImageGeometry) -> sitk.Image:
    rng = np.random.default_rng(0)
    result = sitk.GetImageFromArray(rng.normal(100, 10, size=geometry.size[::-1]).astype(np.float32))
    result.SetSpacing(geometry.spacing)
    result.SetOrigin(geometry.origin)
    result.SetDirection(geometry.direction)
    return result


@pytest.fixture
def geometry() -> ImageGeometry:
    return ImageGeometry(size=(40, 34, 20), spacing=(0.9, 1.3, 2.5), origin=(-12.0, 30.5, 7.0),
                         direction=oblique_direction())


def landmarks_in(geometry: ImageGeometry, indices: list, present: tuple = (True, True, True)) -> LandmarkSet:
    return LandmarkSet(NAMES, geometry.index_to_world(np.asarray(indices, dtype=float)), np.asarray(present))


def test_landmark_sets_round_trip() -> None:
    reference = {"c1": LandmarkSet.from_points({"A": (1, 2, 3), "B": None})}
    prediction = {"c1": LandmarkSet.from_points({"A": (1, 2, 4), "B": (0, 0, 0)}).with_confidence([0.9, 0.2])}
    errors = collect_errors(reference, prediction, method="model")
    assert landmark_sets_from_errors(errors, method="model", side="ref")["c1"].allclose(reference["c1"])
    back = landmark_sets_from_errors(errors, method="model", side="pred")["c1"]
    assert back.allclose(prediction["c1"]) and list(back.confidence) == [0.9, 0.2]
    with pytest.raises(ValueError, match="no rows of method 'net'"):
        landmark_sets_from_errors(errors, method="net", side="ref")


@pytest.mark.parametrize(("n", "labels"), [
    (1, ["best = median = worst"]), (2, ["best = median", "worst"]), (5, ["best", "median", "worst"])])
def test_select_cases(n: int, labels: list[str]) -> None:
    table = pd.DataFrame({"method": "model", "case": [f"c{i}" for i in range(n)] + ["empty"],
                          "n_detected": [3] * n + [0], "mre_mm": [float(10 - i) for i in range(n)] + [float("nan")]})
    chosen = select_cases(table)
    assert [label for label, _ in chosen] == labels
    assert chosen[0][1] == f"c{n - 1}" and chosen[-1][1] == "c0"  # smallest MRE first, largest last


def test_focus_is_the_worst_landmark(geometry: ImageGeometry) -> None:
    reference = landmarks_in(geometry, [[5, 5, 5], [10, 10, 10], [20, 20, 10]])
    prediction = landmarks_in(geometry, [[5, 5, 6], [10, 10, 14], [20, 20, 10]])
    assert focus_landmark(reference, prediction) == 1
    absent = LandmarkSet(NAMES, prediction.points, np.zeros(3, bool))
    assert focus_landmark(reference, absent) == 0


def test_qualitative_on_an_oblique_image(geometry: ImageGeometry, tmp_path: Path) -> None:
    reference = landmarks_in(geometry, [[5, 5, 5], [30, 20, 10], [20, 20, 10]], present=(True, True, False))
    prediction = landmarks_in(geometry, [[6, 5, 5], [30, 24, 11], [20, 20, 10]])
    cases = [QualitativeCase("best", "c1", image(geometry), reference, prediction),
             QualitativeCase("worst", "c2", image(geometry), reference, LandmarkSet(NAMES, prediction.points,
                                                                                       np.zeros(3, bool)))]
    paths = [tmp_path / "q.png", tmp_path / "q.svg"]
    plot_qualitative(cases, paths)
    assert_real_png(paths[0])
    svg = paths[1].read_text()
    assert "axis, towards" in svg and "slice" in svg
    with pytest.raises(ValueError, match="no cases"):
        plot_qualitative([], paths)


def test_model_vs_raters_and_inter_rater_curve(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    reference = {f"c{i}": LandmarkSet(NAMES, rng.uniform(0, 50, (3, 3)), np.ones(3, bool)) for i in range(4)}
    rater = {c: LandmarkSet(NAMES, s.points + rng.normal(0, 1, (3, 3)), s.present) for c, s in reference.items()}
    model = {c: LandmarkSet(NAMES, s.points + rng.normal(0, 2, (3, 3)), s.present) for c, s in reference.items()}
    annotations = {REFERENCE: reference, "r2": rater}
    consensus = consensus_errors(annotations, model)
    settings = BootstrapSettings(n_resamples=100)
    by_annotator = summarize_consensus(consensus, settings=settings)
    by_landmark = interrater_per_landmark(consensus, pairwise_rater_errors(annotations), settings=settings)
    plot_model_vs_raters(by_annotator, by_landmark, tmp_path / "raters.png")
    assert_real_png(tmp_path / "raters.png")
    with pytest.raises(ValueError, match="no annotation has a pair"):
        plot_model_vs_raters(by_annotator.assign(n_pairs=0), by_landmark, tmp_path / "none.png")

    plot_cumulative_errors(synthetic_errors(), [tmp_path / "cum.png", tmp_path / "cum.svg"],
                           extra_curves={"inter-rater": consensus["annotator_error_mm"].to_numpy(), "empty": []})
    assert_real_png(tmp_path / "cum.png")
    svg = (tmp_path / "cum.svg").read_text()
    assert "inter-rater (n = 24)" in svg and "empty" not in svg


def test_message_figure(tmp_path: Path) -> None:
    message_figure(tmp_path / "m.png", title="Model vs raters", message="no raters")
    assert matplotlib.image.imread(tmp_path / "m.png").shape[0] > 100
