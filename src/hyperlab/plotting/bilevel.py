"""Figures of the ``bilevel`` stage: trajectories of every hypergradient order on the two loss surfaces.

* ``bilevel_surfaces.png``: (h, w, L_train) and (h, w, L_val) as 3-D surfaces
  and contour maps with every order's (h, w) path, the main ``order`` thick,
  the exact (implicit-function) reference in black.
* ``bilevel_curves.png``: L_val, h and the hypergradient norm against the
  outer step, one line per order.

Order n is drawn as ``hyperlab.plotting.style.style(f"order{n}")``, the same look as
``online<n>`` in the HPO figures; the exact run as ``style("exact")``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all, style
from hyperlab.plotting.surfaces import Path2D, shared_legend, surface_figure

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/bilevel")
OUT_SURFACES = Path("plots/figures/bilevel/bilevel_surfaces.png")
OUT_CURVES = Path("plots/figures/bilevel/bilevel_curves.png")
# Log-scale floor: float32 losses reach exact zero or denormals long before the plot cares.
FLOOR = 1e-16
# The bilevel "exact" run takes the hypergradient from the implicit function theorem (closed form 2h).
EXACT_LABEL = "exact hypergradient (implicit function)"
# About this many markers per line: enough to tell the orders apart in greyscale, few enough to see the line.
MARKS = 10


def load(source: Path = SOURCE) -> tuple[dict[int, pd.DataFrame], pd.DataFrame | None, int | None]:
    """(tables by order, exact table or None, main order or None) from the stage's CSVs."""
    runs = {}
    for path in source.glob("order_*.csv"):
        match = re.fullmatch(r"order_(\d+)", path.stem)
        if match:
            runs[int(match.group(1))] = pd.read_csv(path)
    exact = pd.read_csv(source / "exact.csv") if (source / "exact.csv").is_file() else None
    main = None
    if (source / "main.csv").is_file():
        main_table = pd.read_csv(source / "main.csv")
        main = int(main_table["order"].iloc[0]) if len(main_table) else None
    return dict(sorted(runs.items())), exact, main


def method_styles(orders: list[int], exact: bool) -> dict[str, style.Style]:
    """The look of every run drawn: ``order<n>`` per order, ``exact`` when drawn; raises if two look alike."""
    names = [f"order{n}" for n in orders] + (["exact"] if exact else [])
    table = style.styles(names)
    if exact:
        table["exact"] = table["exact"]._replace(label=EXACT_LABEL)
    return table


def _label(n: int, main: int | None) -> str:
    return style.label(f"order{n}") + (" (main)" if n == main else "")


def _line_kwargs(s: style.Style, n_points: int, thick: bool = False) -> dict:
    """``Axes.plot`` keywords: the method's look, markers thinned to about ``MARKS`` per line."""
    return s.plot_kwargs(lw=2.8 if thick else 1.3, ms=4, markevery=max(n_points // MARKS, 1))


def surfaces(runs: dict[int, pd.DataFrame], exact: pd.DataFrame | None, main: int | None):
    looks = method_styles(list(runs), exact is not None)
    paths = []
    for n, t in runs.items():
        kw = _line_kwargs(looks[f"order{n}"], len(t))
        paths.append(
            Path2D(
                _label(n, main),
                t["h"].to_numpy(),
                t["w"].to_numpy(),
                color=kw.pop("color"),
                highlight=n == main,
                style={k: v for k, v in kw.items() if k not in ("label", "lw")},
            )
        )
    if exact is not None:
        kw = _line_kwargs(looks["exact"], len(exact))
        paths.append(
            Path2D(
                EXACT_LABEL,
                exact["h"].to_numpy(),
                exact["w"].to_numpy(),
                color=kw.pop("color"),
                style={k: v for k, v in kw.items() if k != "label"},
            )
        )
    # The valley of L_train: where w sits once the inner problem is solved.
    line = np.linspace(-1.0, 1.0, 2)
    paths.append(
        Path2D("best response w*(h) = -h", line, -line, color="0.55", mark_ends=False, style={"ls": ":", "lw": 1.2})
    )
    title = (
        "n-order hypergradients on L_train = |h+w|², L_val = |w|² "
        f"(main order {main}; h, w: coordinate 0); w*(h) = -h, optimum h = 0"
    )
    return surface_figure(paths, title)


def curves(runs: dict[int, pd.DataFrame], exact: pd.DataFrame | None, main: int | None):
    looks = method_styles(list(runs), exact is not None)
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    series: list[tuple[pd.DataFrame, dict[str, object]]] = [
        (t, {**_line_kwargs(looks[f"order{n}"], len(t), thick=n == main), "label": _label(n, main)})
        for n, t in runs.items()
    ]
    if exact is not None:
        series.append((exact, _line_kwargs(looks["exact"], len(exact))))
    for t, kw in series:
        axes[0].semilogy(t["step"], np.maximum(t["L_val"], FLOOR), **kw)
        axes[1].plot(t["step"], t["h"], **kw)
        if (t["hypergrad_norm"] > 0).any():
            axes[2].semilogy(t["step"], np.maximum(t["hypergrad_norm"], FLOOR), **kw)
    axes[0].set(xlabel="outer step", ylabel="validation loss L_val = |w|²", title="validation loss")
    axes[1].set(xlabel="outer step", ylabel="hyperparameter h (coordinate 0)", title="hyperparameter (optimum h = 0)")
    axes[1].axhline(0.0, color="grey", lw=0.6)
    axes[2].set(
        xlabel="outer step",
        ylabel="hypergradient norm |dL_val/dh|",
        title="hypergradient norm (order 0: exactly 0, not drawn)",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
    shared_legend(fig, axes, ncol=7)
    return fig


def render(params: FiguresParams) -> list[Path]:
    runs, exact, main = load()
    if not runs:
        return []
    return save_all(
        ((out, make(runs, exact, main)) for out, make in ((OUT_SURFACES, surfaces), (OUT_CURVES, curves))), params.dpi
    )
