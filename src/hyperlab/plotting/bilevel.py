"""Figures of the ``bilevel`` stage: trajectories of every hypergradient order on the two loss surfaces.

* ``bilevel_surfaces.png``: (h, w, L_train) and (h, w, L_val) as 3-D surfaces
  and contour maps with every order's (h, w) path, the main ``order`` thick,
  the exact (implicit-function) reference dashed black.
* ``bilevel_curves.png``: L_val, h and the hypergradient norm against the
  outer step, one line per order.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all
from hyperlab.plotting.surfaces import Path2D, surface_figure

SOURCE = Path("plots/bilevel")
OUT_SURFACES = Path("plots/figures/bilevel/bilevel_surfaces.png")
OUT_CURVES = Path("plots/figures/bilevel/bilevel_curves.png")
# Log-scale floor: float32 losses reach exact zero or denormals long before the plot cares.
FLOOR = 1e-16


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


def _colors(orders: list[int]) -> dict[int, tuple]:
    # turbo from dark red to blue: each order stays visible on the viridis surfaces and on white.
    cmap = plt.get_cmap("turbo_r")
    span = max(len(orders) - 1, 1)
    return {n: cmap(0.05 + 0.8 * i / span) for i, n in enumerate(orders)}


def _label(n: int, main: int | None) -> str:
    return f"order {n}" + (" (main)" if n == main else "")


def surfaces(runs: dict[int, pd.DataFrame], exact: pd.DataFrame | None, main: int | None):
    colors = _colors(list(runs))
    paths = [
        Path2D(_label(n, main), t["h"].to_numpy(), t["w"].to_numpy(), color=colors[n], highlight=n == main)
        for n, t in runs.items()
    ]
    if exact is not None:
        paths.append(
            Path2D(
                "exact (IFT)", exact["h"].to_numpy(), exact["w"].to_numpy(), color="k", style={"ls": "--", "lw": 1.2}
            )
        )
    # The valley of L_train: where w sits once the inner problem is solved.
    line = np.linspace(-1.0, 1.0, 2)
    paths.append(
        Path2D("best response w*(h) = -h", line, -line, color="0.8", mark_ends=False, style={"ls": ":", "lw": 1.2})
    )
    title = (
        "n-order hypergradients on L_train = |h+w|², L_val = |w|² "
        f"(main order {main}; h, w: coordinate 0); w*(h) = -h, optimum h = 0"
    )
    return surface_figure(paths, title)


def curves(runs: dict[int, pd.DataFrame], exact: pd.DataFrame | None, main: int | None):
    colors = _colors(list(runs))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    series: list[tuple[int | None, pd.DataFrame, dict[str, object]]] = [
        (n, t, dict(color=colors[n], lw=2.8 if n == main else 1.3, label=_label(n, main))) for n, t in runs.items()
    ]
    if exact is not None:
        series.append((None, exact, dict(color="k", ls="--", lw=1.2, label="exact (IFT)")))
    for _, t, kw in series:
        axes[0].semilogy(t["step"], np.maximum(t["L_val"], FLOOR), **kw)
        axes[1].plot(t["step"], t["h"], **kw)
        if (t["hypergrad_norm"] > 0).any():
            axes[2].semilogy(t["step"], np.maximum(t["hypergrad_norm"], FLOOR), **kw)
    axes[0].set(xlabel="outer step", ylabel="L_val = |w|²", title="validation loss")
    axes[1].set(xlabel="outer step", ylabel="h (coordinate 0)", title="hyperparameter (optimum h = 0)")
    axes[1].axhline(0.0, color="grey", lw=0.6)
    axes[2].set(
        xlabel="outer step", ylabel="|hypergradient|", title="hypergradient norm (order 0: exactly 0, not drawn)"
    )
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(params) -> list[Path]:
    runs, exact, main = load()
    if not runs:
        return []
    return save_all(
        ((out, make(runs, exact, main)) for out, make in ((OUT_SURFACES, surfaces), (OUT_CURVES, curves))), params.dpi
    )
