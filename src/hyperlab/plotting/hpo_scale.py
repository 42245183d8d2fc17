"""Figures of the ``hpo_scale`` stage (hypergradients against search as the dimension of h grows).

* ``hpo_scale_vs_dim.png``: best validation cross-entropy (left) and the test error of the
  h it chose (right) against the dimension of h, per method at the inner-step budget;
  median over seeds, bars from the first to the third quartile. Hypergradient methods
  solid, search methods dashed; a method absent at a dimension did not run there (the
  summary says why).
* ``hpo_scale_hypergrad_error.png``: each hypergradient's relative error against exact
  reverse mode (float64) per dimension, at h0 and at a uniform point of the box.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all

SOURCE = Path("plots/hpo_scale")
FIGURES = Path("plots/figures/hpo_scale")


def _styles(methods: list[str], sides: dict[str, str]) -> dict[str, dict]:
    cmap = plt.get_cmap("tab10")
    return {
        m: dict(
            color=cmap(i % 10),
            ls="-" if sides[m] == "hypergradient" else "--",
            marker="o" if sides[m] == "hypergradient" else "s",
        )
        for i, m in enumerate(methods)
    }


def vs_dim_figure(summary: pd.DataFrame):
    ran = summary[summary["ran"].astype(bool)]
    methods = list(dict.fromkeys(ran["method"]))
    style = _styles(methods, dict(zip(ran["method"], ran["side"])))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, col, label in (
        (axes[0], "val_loss", "best validation cross-entropy (the objective)"),
        (axes[1], "test_error", "test error of the chosen h"),
    ):
        for m in methods:
            g = ran[ran["method"] == m].sort_values("dim")
            err = np.vstack([g[col] - g[f"{col}_q1"], g[f"{col}_q3"] - g[col]])
            ax.errorbar(g["dim"], g[col], yerr=err, label=m, lw=1.6, ms=4, capsize=2, **style[m])
        ax.set_xscale("log")
        ax.set_xlabel("dimension of h")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    initial = float(ran["initial_val_loss"].median())
    axes[0].axhline(initial, color="k", lw=0.8, ls=":", label="h0")
    axes[0].legend(fontsize=8, ncol=2)
    axes[0].set_title("same inner-step budget; median and quartiles over seeds")
    fig.tight_layout()
    return fig


def error_figure(acc: pd.DataFrame):
    acc = acc[acc["method"] != "exact"]
    methods = list(dict.fromkeys(acc["method"]))
    points = sorted(acc["point"].unique())
    fig, axes = plt.subplots(1, len(points), figsize=(6.5 * len(points), 4.5), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], points):
        for m in methods:
            g = acc[(acc["method"] == m) & (acc["point"] == p)].sort_values("dim")
            ax.plot(g["dim"], np.maximum(g["rel_err"].astype(float), 1e-12), "o-", label=m, lw=1.4, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set_xlabel("dimension of h")
        ax.set_title("at h0" if p == 0 else f"at uniform point {p} of the box")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("|g − g_exact| / |g_exact| (exact: float64)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(params) -> list[Path]:
    summary_path = SOURCE / "summary.csv"
    if not summary_path.is_file():
        return []
    figures = [("hpo_scale_vs_dim.png", vs_dim_figure(pd.read_csv(summary_path)))]
    acc_path = SOURCE / "hypergrad_accuracy.csv"
    if acc_path.is_file():
        figures.append(("hpo_scale_hypergrad_error.png", error_figure(pd.read_csv(acc_path))))
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
