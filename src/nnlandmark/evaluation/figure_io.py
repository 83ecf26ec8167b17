"""Figures without pyplot state: a bare Figure on an Agg canvas, saved as PNG and/or SVG."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

SUFFIXES = (".png", ".svg")
DPI = 150

FigurePaths = str | Path | Sequence[str | Path]


def figure_paths(paths: FigurePaths) -> list[Path]:
    """One or several output paths, each ending in .png or .svg (checked before any drawing)."""
    items = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not items:
        raise ValueError("expected at least one figure path")
    for path in items:
        if path.suffix.lower() not in SUFFIXES:
            raise ValueError(f"expected a figure path ending in {' or '.join(SUFFIXES)}, got {path}")
    return items


def new_figure(paths: FigurePaths, *, width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches, after checking the output paths."""
    figure_paths(paths)
    # A bare Figure on an Agg canvas: no pyplot state, so nothing stays open and any backend is left alone.
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, paths: FigurePaths, *, tight: bool = True) -> None:
    """Write ``figure`` to every path (format from the suffix), then release it."""
    if tight:
        figure.tight_layout()
    for path in figure_paths(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI, format=path.suffix.lower().lstrip("."))
        logger.info("wrote %s", path)
    figure.clear()


def message_figure(paths: FigurePaths, *, title: str, message: str) -> None:
    """A small figure saying why there is nothing to plot (so the DAG target still exists)."""
    figure = new_figure(paths, width=7.0, height=2.5)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    save_figure(figure, paths)
