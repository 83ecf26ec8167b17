"""Published references: checked entries, kept apart from and placed beside the measured rows."""

from __future__ import annotations

import pandas as pd
import pytest

from nnlandmark.evaluation.published import MEASURED, PUBLISHED, beside_measured, check_entry, published_table

MML = [{"method": "nnLandmark", "source": "Ertl et al.", "mre_mm": 1.5},
       {"method": "authors", "source": "He et al.", "mre_mm": 1.7, "sd_mm": 0.72, "sdr_2.5mm": 86.45},
       {"method": "AFLE", "source": "Lau et al.", "kind": "inter-rater", "mre_mm": 1.1}]


def test_entries_checked() -> None:
    assert check_entry(MML[1], where="x")["sdr_2.5mm"] == 86.45
    with pytest.raises(ValueError, match="unknown key.*mre"):
        check_entry({"method": "a", "source": "b", "mre": 1.0}, where="entry 0")
    with pytest.raises(ValueError, match="missing source"):
        check_entry({"method": "a"}, where="entry 0")
    with pytest.raises(ValueError, match="kind"):
        check_entry({"method": "a", "source": "b", "kind": "other"}, where="entry 0")


def test_published_rows_by_kind() -> None:
    table = published_table({"mml": MML})
    assert list(table["method"]) == ["nnLandmark", "authors", "AFLE"]
    assert list(published_table({"mml": MML}, kind="inter-rater")["method"]) == ["AFLE"]
    assert published_table({}).empty


def test_measured_first_then_published_per_dataset() -> None:
    measured = pd.DataFrame({"dataset": ["mml", "mml", "afids"], "method": ["model", "baseline", "model"],
                             "n_cases": [60, 60, 22], "mre_mm": [1.4, 6.0, 1.3]})
    table = beside_measured(measured, published_table({"mml": MML[:2]}))
    assert list(zip(table["dataset"], table["method"], table["origin"])) == [
        ("mml", "model", MEASURED), ("mml", "baseline", MEASURED), ("mml", "nnLandmark", PUBLISHED),
        ("mml", "authors", PUBLISHED), ("afids", "model", MEASURED)]
    assert list(table["citation"])[2:4] == ["Ertl et al.", "He et al."]
    assert str(table["n_cases"].dtype) == "Int64" and pd.isna(table["n_cases"][2])
    assert table["sdr_2.5mm"][3] == 86.45 and pd.isna(table["sdr_2.5mm"][0])
