"""Error figures: written as real images with content, refused for empty data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from nnlandmark.evaluation.errors import ERROR_COLUMNS
from nnlandmark.evaluation.plots import plot_cumulative_errors, plot_per_landmark_errors


def synthetic_errors(methods: tuple[str, ...] = ("nnLandmark", "mean position")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    names = ["anterior commissure", "posterior commissure", "R superior LMS", "L superior LMS", "culmen"]
    for m, method in enumerate(methods):
        for case in range(8):
            for name in names:
                missed = (case + m) % 7 == 0
                error = float("nan") if missed else float(rng.gamma(2.0, 0.8 + 2.0 * m))
                rows.append({
                    "method": method, "case": f"sub-{case:02d}", "landmark": name,
                    "ref_present": True, "pred_present": not missed,
                    "x_ref": 0.0, "y_ref": 0.0, "z_ref": 0.0,
                    "x_pred": error, "y_pred": 0.0, "z_pred": 0.0,
                    "error_mm": error, "confidence": float("nan"),
                })
    return pd.DataFrame(rows, columns=list(ERROR_COLUMNS))


PLOTS = [plot_per_landmark_errors, plot_cumulative_errors]


def assert_real_png(path: Path) -> None:
    assert path.stat().st_size > 10_000
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 10


@pytest.mark.parametrize("plot", PLOTS)
@pytest.mark.parametrize("methods", [("nnLandmark",), ("nnLandmark", "mean position")])
def test_png(plot, methods: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "figures" / "errors.png"  # parent folder created
    plot(synthetic_errors(methods), path)
    assert_real_png(path)
    assert plt.get_fignums() == []  # nothing left open


@pytest.mark.parametrize("plot", PLOTS)
def test_svg(plot, tmp_path: Path) -> None:
    path = tmp_path / "errors.svg"
    plot(synthetic_errors(), path)
    text = path.read_text()
    assert path.stat().st_size > 10_000 and "<svg" in text and "Radial error" in text


@pytest.mark.parametrize("plot", PLOTS)
def test_empty_data_refused(plot, tmp_path: Path) -> None:
    nothing = synthetic_errors()
    nothing["pred_present"] = False
    nothing["error_mm"] = float("nan")
    with pytest.raises(ValueError, match="no evaluated landmarks"):
        plot(nothing, tmp_path / "empty.png")
    with pytest.raises(ValueError, match="no evaluated landmarks"):
        plot(pd.DataFrame(columns=list(ERROR_COLUMNS)), tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


@pytest.mark.parametrize("plot", PLOTS)
def test_unknown_suffix_refused(plot, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot(synthetic_errors(), tmp_path / "errors.jpg")
