"""Writing a benchmark table four ways: CSV (every number, full precision), Markdown, LaTeX (booktabs), HTML.

The CSV holds the numeric table; the other three show a formatted view of the same rows, described by a
list of :class:`Column` (header, alignment, and how a row becomes the cell text).
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

MISSING = "–"
SUFFIXES = (".csv", ".md", ".tex", ".html")


@dataclass(frozen=True)
class Column:
    """One column of the formatted view: ``cell(row)`` gives its text; ``align`` is ``"l"`` or ``"r"``."""

    header: str
    cell: Callable[[pd.Series], str]
    align: str = "r"


def number(value: object, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or an en dash when missing / not finite."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    return f"{v:.{digits}f}" if math.isfinite(v) else MISSING


def text(column: str, header: str) -> Column:
    return Column(header, lambda row: MISSING if pd.isna(row[column]) else str(row[column]), "l")


def integer(column: str, header: str) -> Column:
    return Column(header, lambda row: MISSING if pd.isna(row[column]) else str(int(row[column])))


def value(column: str, header: str, *, digits: int = 2) -> Column:
    return Column(header, lambda row: number(row[column], digits))


def with_ci(column: str, header: str, *, digits: int = 2) -> Column:
    """``mean [low, high]`` from ``column`` and its ``_ci_low`` / ``_ci_high`` bounds."""
    def cell(row: pd.Series) -> str:
        low, high = row[f"{column}_ci_low"], row[f"{column}_ci_high"]
        main = number(row[column], digits)
        if main == MISSING or number(low) == MISSING:
            return main
        return f"{main} [{number(low, digits)}, {number(high, digits)}]"
    return Column(header, cell)


def mean_sd(column: str, sd_column: str, header: str, *, digits: int = 2) -> Column:
    """``mean ± SD``; the SD is left out when missing."""
    def cell(row: pd.Series) -> str:
        main, sd = number(row[column], digits), number(row[sd_column], digits)
        return main if MISSING in (main, sd) else f"{main} ± {sd}"
    return Column(header, cell)


def p_value(column: str, header: str) -> Column:
    def cell(row: pd.Series) -> str:
        p = row[column]
        if number(p) == MISSING:
            return MISSING
        return "< 0.001" if float(p) < 0.001 else f"{float(p):.3f}"
    return Column(header, cell)


_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "≤": r"$\leq$",
    "–": "--", "−": "$-$", "<": r"$<$", ">": r"$>$",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_escape(text: str) -> str:
    """``text`` safe inside LaTeX: special characters escaped, ± ≤ – − < > spelled in LaTeX."""
    return _LATEX_PATTERN.sub(lambda m: _LATEX[m.group(0)], text)


def _cells(table: pd.DataFrame, columns: Sequence[Column]) -> list[list[str]]:
    return [[c.cell(row) for c in columns] for _, row in table.iterrows()]


def to_markdown(table: pd.DataFrame, columns: Sequence[Column], *, caption: str) -> str:
    """A pipe table preceded by its caption as a ``Table:`` line (pandoc's caption syntax); ``|`` escaped."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"
    rule = ["---" if c.align == "l" else "---:" for c in columns]
    body = [line(cells) for cells in _cells(table, columns)]
    return "\n".join([f"Table: {caption}", "", line([c.header for c in columns]), line(rule),
                      *body]) + "\n"


def to_latex(table: pd.DataFrame, columns: Sequence[Column], *, caption: str, label: str) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    spec = "".join(c.align for c in columns)
    lines = [
        r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(latex_escape(c.header) for c in columns) + r" \\", r"\midrule",
        *(" & ".join(latex_escape(cell) for cell in cells) + r" \\" for cells in _cells(table, columns)),
        r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame, columns: Sequence[Column], *, caption: str) -> str:
    """A standalone HTML page with the table (shown inline by Snakemake's report)."""
    def row(cells: Sequence[str], tag: str) -> str:
        return "<tr>" + "".join(f'<{tag} class="{c.align}">{html.escape(v)}</{tag}>'
                                for c, v in zip(columns, cells)) + "</tr>"
    style = ("body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse}"
             "caption{text-align:left;padding-bottom:.5em;max-width:60em}th,td{padding:3px 10px}"
             "thead tr{border-top:2px solid #000;border-bottom:1px solid #000}tbody tr:last-child"
             "{border-bottom:2px solid #000}.r{text-align:right}.l{text-align:left}")
    body = "\n".join(row(cells, "td") for cells in _cells(table, columns))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(caption)}</title>'
            f"<style>{style}</style></head><body>\n<table>\n<caption>{html.escape(caption)}</caption>\n"
            f"<thead>{row([c.header for c in columns], 'th')}</thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
            "</body></html>\n")


def write_table(
    table: pd.DataFrame, stem: str | Path, *, columns: Sequence[Column], caption: str, label: str | None = None
) -> list[Path]:
    """Write ``stem``.csv (``table`` as is) and the formatted .md, .tex and .html; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + s) for s in SUFFIXES]
    table.to_csv(paths[0], index=False)
    paths[1].write_text(to_markdown(table, columns, caption=caption), encoding="utf-8")
    paths[2].write_text(to_latex(table, columns, caption=caption, label=label or f"tab:{stem.name}"),
                        encoding="utf-8")
    paths[3].write_text(to_html(table, columns, caption=caption), encoding="utf-8")
    logger.info("wrote %s.{csv,md,tex,html} (%d rows)", stem, len(table))
    return paths
