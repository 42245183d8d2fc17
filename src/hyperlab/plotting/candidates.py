"""Candidate table: validation error vs inference latency of every network, with the true Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter

from hyperlab.io import save_figure
from hyperlab.plotting import draw_front
from hyperlab.plotting import style as st

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/candidates")
OUT = Path("plots/figures/candidates")
#: depth -> (colour, marker): Okabe & Ito's colour-blind-safe hues, a marker each so depths differ in greyscale too
_HUES = ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue")
LAYER_LOOKS = {n: (st.OKABE_ITO[h], st.ORDINAL_MARKERS[n - 1]) for n, h in enumerate(_HUES, start=1)}


def _ticks(values: pd.Series, candidates) -> list[float]:
    lo, hi = values.min() * 0.9, values.max() * 1.1
    return [t for t in candidates if lo <= t <= hi]


def scatter_figure(nets: pd.DataFrame, front: pd.DataFrame):
    """Left: error vs latency, the front as a staircase. Right: latency vs forward FLOPs (the cost model check)."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    # deepest first: the few shallow networks are drawn on top, not buried
    for n_layers, group in sorted(nets.groupby("n_layers"), key=lambda kv: -kv[0]):
        colour, marker = LAYER_LOOKS.get(int(n_layers), (st.GREY, "."))
        ax.scatter(
            group["latency_ms"],
            group["val_error"],
            s=12,
            alpha=0.6,
            color=colour,
            marker=marker,
            label=f"{n_layers} hidden layer{'s' if n_layers > 1 else ''}",
        )
        bx.scatter(group["flops"], group["latency_ms"], s=12, alpha=0.6, color=colour, marker=marker)
    front = front.sort_values("latency_ms")
    draw_front(ax, front["latency_ms"], front["val_error"], 36, f"true Pareto front ({len(front)} networks)")
    best = nets.loc[nets["val_error"].idxmin()]
    ax.annotate(
        f"best: {best['arch']}, {best['val_error']:.4f}",
        (best["latency_ms"], best["val_error"]),
        xytext=(-40, 48),
        textcoords="offset points",
        fontsize=8,
        bbox=dict(boxstyle="round", fc="white", ec="0.6", lw=0.5),
        arrowprops=dict(arrowstyle="->", lw=0.7),
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_yticks(_ticks(nets["val_error"], (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.9)))
    ax.set_xticks(_ticks(nets["latency_ms"], [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]))
    ax.set_xlabel("inference latency (ms, median per network)")
    ax.set_ylabel("validation error (mean over seeds)")
    ax.set_title("Every network of the space: error vs latency")
    ax.grid(alpha=0.3, which="both")
    bx.set_xscale("log")
    bx.set_yscale("log")
    # slope 1 through the largest networks: how far small ones sit above pure FLOPs (fixed overheads)
    big = nets[nets["flops"] >= nets["flops"].quantile(0.9)]
    ratio = np.median(big["latency_ms"] / big["flops"])
    xs = np.geomspace(nets["flops"].min(), nets["flops"].max(), 50)
    bx.plot(xs, ratio * xs, "k--", lw=0.8, label="proportional to FLOPs (through the largest 10%)")
    bx.set_xlabel("forward FLOPs per example")
    bx.set_ylabel("inference latency (ms)")
    bx.set_title("Measured latency vs FLOPs")
    bx.grid(alpha=0.3, which="both")
    handles: dict = {}  # one legend for both panels, below them, off the data
    for a in (ax, bx):
        for h, label in zip(*a.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
               fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout()
    return fig


def render(params: FiguresParams) -> list[Path]:
    scatter, pareto = SOURCE / "scatter.csv", SOURCE / "pareto.csv"
    if not (scatter.is_file() and pareto.is_file()):
        return []
    nets = pd.read_csv(scatter, dtype={"arch": str})
    if nets.empty:
        return []
    fig = scatter_figure(nets, pd.read_csv(pareto, dtype={"arch": str}))
    out = OUT / "candidates_pareto.png"
    save_figure(out, fig, dpi=params.dpi)
    plt.close(fig)
    return [out]
