"""Figures. Used only by the ``figures`` stage: experiments write plot data, this draws it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files: no display; set once, before any family imports pyplot


def save_all(figures: Iterable[tuple[str | Path, Any]], dpi: int) -> list[Path]:
    """Save every ``(path, figure)`` atomically and close it (a ``None`` figure is skipped); the paths written."""
    import matplotlib.pyplot as plt

    from hyperlab.io import save_figure

    written = []
    for path, fig in figures:
        if fig is None:
            continue
        save_figure(path, fig, dpi=dpi)
        plt.close(fig)
        written.append(Path(path))
    return written


def draw_front(ax, x, y, size: float, label: str) -> None:
    """A Pareto front on ``ax``: a staircase through its points (``x`` ascending) and hollow black markers."""
    ax.step(x, y, where="post", color="k", lw=1)
    ax.scatter(x, y, s=size, facecolor="none", edgecolor="k", label=label)
