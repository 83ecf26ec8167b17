"""One table, four files: CSV with every number, and Markdown, LaTeX (booktabs) and HTML views of it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from nnlandmark.evaluation.table_formats import (
    integer,
    latex_escape,
    mean_sd,
    p_value,
    text,
    value,
    with_ci,
    write_table,
)


def table() -> pd.DataFrame:
    return pd.DataFrame({
        "method": ["net_1", "a|b"], "n": [3, 4], "mre_mm": [1.23456, math.nan], "mre_mm_ci_low": [1.0, math.nan],
        "mre_mm_ci_high": [1.5, math.nan], "sd_mm": [0.5, 0.25], "p": [0.0004, 0.25],
    })


COLUMNS = [text("method", "Method"), integer("n", "n"), with_ci("mre_mm", "MRE (mm)"),
           mean_sd("mre_mm", "sd_mm", "MRE ± SD (mm)"), value("sd_mm", "SD", digits=3), p_value("p", "p")]


def test_four_files_with_the_same_rows(tmp_path: Path) -> None:
    paths = write_table(table(), tmp_path / "sub" / "t", columns=COLUMNS, caption="Errors ≤ 2 mm: 50 % & more")
    assert [p.name for p in paths] == ["t.csv", "t.md", "t.tex", "t.html"]
    csv = pd.read_csv(paths[0])
    assert csv["mre_mm"][0] == 1.23456 and list(csv.columns) == list(table().columns)

    md = paths[1].read_text().splitlines()
    assert md[0] == "Table: Errors ≤ 2 mm: 50 % & more"
    assert md[2] == "| Method | n | MRE (mm) | MRE ± SD (mm) | SD | p |"
    assert md[3] == "| --- | ---: | ---: | ---: | ---: | ---: |"
    assert md[4] == "| net_1 | 3 | 1.23 [1.00, 1.50] | 1.23 ± 0.50 | 0.500 | < 0.001 |"
    assert md[5] == r"| a\|b | 4 | – | – | 0.250 | 0.250 |"

    tex = paths[2].read_text()
    assert r"\caption{Errors $\leq$ 2 mm: 50 \% \& more}" in tex and r"\label{tab:t}" in tex
    assert r"\begin{tabular}{lrrrrr}" in tex
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert r"net\_1 & 3 & 1.23 [1.00, 1.50] & 1.23 $\pm$ 0.50 & 0.500 & $<$ 0.001 \\" in tex
    assert r"a|b & 4 & -- & -- & 0.250 & 0.250 \\" in tex

    page = paths[3].read_text()
    assert page.count("<tr>") == 3 and "<caption>Errors ≤ 2 mm: 50 % &amp; more</caption>" in page


def test_latex_escape() -> None:
    assert latex_escape(r"a_b & 10% #1 {x} ~ ^ \ $") == (
        r"a\_b \& 10\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} \$")
