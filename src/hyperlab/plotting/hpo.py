"""Figures of the ``hpo`` stage (hypergradient methods vs Bayesian optimization on MNIST).

* ``hpo_best.png``: best validation loss found so far against wall-clock seconds (after
  compilation) and against inner gradient steps; median over seeds, quartile band.
* ``hpo_h_paths.png``: every method's h (each log L2, the log learning rate) against
  inner steps, median over seeds (BO: the h of each trial, dots).
* ``hpo_hypergrad_error.png``: each approximate hypergradient's relative error against
  exact reverse mode at the checked points of the box.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all

SOURCE = Path("plots/hpo")
FIGURES = Path("plots/figures/hpo")
BAYES = ("gp_ei", "tpe", "random")


def _style(methods: list[str]) -> dict[str, dict]:
    cmap = plt.get_cmap("tab10")
    return {m: dict(color=cmap(i % 10), ls="--" if m in BAYES else "-") for i, m in enumerate(methods)}


def best_so_far(trace: pd.DataFrame, x: str, grid: np.ndarray) -> np.ndarray:
    """(seeds, len(grid)): the best val loss among each seed's rounds with ``x`` <= grid (NaN before its first)."""
    out = []
    for _, g in trace.groupby("seed"):
        g = g.sort_values(x)
        best = np.minimum.accumulate(g["val_loss"].to_numpy())
        idx = np.searchsorted(g[x].to_numpy(), grid, side="right") - 1
        out.append(np.where(idx >= 0, best[np.maximum(idx, 0)], np.nan))
    return np.array(out)


def best_figure(trace: pd.DataFrame, budget_seconds: float | None, step_budget: int | None):
    methods = list(dict.fromkeys(trace["method"]))
    style = _style(methods)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, x, limit, label in (
        (axes[0], "wall_s", budget_seconds, "wall-clock seconds (after compilation)"),
        (axes[1], "inner_steps", step_budget, "inner gradient steps"),
    ):
        top = limit or trace[x].max()
        grid = np.linspace(0, top, 200)
        for m in methods:
            curves = best_so_far(trace[trace["method"] == m], x, grid)
            with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN before a method's first value
                warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
                q1, med, q3 = (np.nanpercentile(curves, q, axis=0) for q in (25, 50, 75))
            ax.plot(grid, med, label=m, lw=1.8, **style[m])
            ax.fill_between(grid, q1, q3, color=style[m]["color"], alpha=0.12)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("best validation cross-entropy so far")
    axes[0].set_title("same wall-clock budget (machine-dependent)")
    axes[1].set_title("same inner-step budget (deterministic)")
    axes[1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def paths_figure(trace: pd.DataFrame, coords: list[str], step_budget: int | None):
    methods = list(dict.fromkeys(trace["method"]))
    style = _style(methods)
    fig, axes = plt.subplots(1, len(coords), figsize=(5 * len(coords), 4.5), squeeze=False)
    for ax, c in zip(axes[0], coords):
        for m in methods:
            g = trace[trace["method"] == m]
            if step_budget:
                g = g[g["inner_steps"] <= step_budget]
            if m in BAYES:
                ax.plot(g["inner_steps"], g[c], ".", ms=3, alpha=0.5, color=style[m]["color"], label=m)
            else:
                med = g.groupby("round").agg(steps=("inner_steps", "median"), v=(c, "median"))
                ax.plot(med["steps"], med["v"], lw=1.6, label=m, **style[m])
        ax.set_xlabel("inner gradient steps")
        ax.set_ylabel(c)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle("h trajectories (gradient methods: median over seeds; BO: every trial)")
    fig.tight_layout()
    return fig


def error_figure(acc: pd.DataFrame):
    acc = acc[~acc["method"].isin(["exact"])]
    methods = list(dict.fromkeys(acc["method"]))
    points = sorted(acc["point"].unique())
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(points), 1)
    for j, p in enumerate(points):
        vals = [float(acc[(acc.method == m) & (acc.point == p)]["rel_err"].iloc[0]) for m in methods]
        ax.bar(np.arange(len(methods)) + j * width, np.maximum(vals, 1e-8), width, label=f"point {p}")
    ax.set_xticks(np.arange(len(methods)) + 0.4 - width / 2, methods, rotation=20)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_ylabel("|g − g_exact| / |g_exact|")
    ax.set_title("hypergradients against exact reverse mode (IFT: L2 components only)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(params) -> list[Path]:
    trace_path = SOURCE / "trace.csv"
    if not trace_path.is_file():
        return []
    trace = pd.read_csv(trace_path)
    report_path = SOURCE / "report.json"
    budget = steps = None
    coords = [c for c in trace.columns if c.startswith("log_")]
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        budget, steps = report["params"]["budget_seconds"], report["params"]["step_budget"]
    figures = [
        ("hpo_best.png", best_figure(trace, budget, steps)),
        ("hpo_h_paths.png", paths_figure(trace, coords, steps)),
    ]
    acc_path = SOURCE / "hypergrad_accuracy.csv"
    if acc_path.is_file():
        figures.append(("hpo_hypergrad_error.png", error_figure(pd.read_csv(acc_path))))
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
