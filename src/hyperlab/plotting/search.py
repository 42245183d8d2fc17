"""Architecture search: regret vs trials, vs cumulative training seconds and under a latency budget,
hypervolume vs trials (median and IQR band), front quality four ways, Pareto fronts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.io import save_figure
from hyperlab.plotting import draw_front

SOURCE = Path("plots/search")
OUT = Path("plots/figures/search")

STYLE = {  # model family by colour, cost-aware variants dashed, constrained dotted
    "random_uniform": ("0.2", "-"),
    "random": ("0.6", "-"),
    "gp_ei": ("tab:blue", "-"),
    "gp_ei_per_second": ("tab:blue", "--"),
    "gp_ei_constrained": ("tab:blue", ":"),
    "tpe": ("tab:orange", "-"),
    "tpe_per_second": ("tab:orange", "--"),
    "tpe_constrained": ("tab:orange", ":"),
    "motpe": ("tab:green", "-."),
}


def _strategies(frame: pd.DataFrame, x: str) -> list[str]:
    return [c for c in frame.columns if c != x and not c.endswith(("_q25", "_q75"))]


def band_figure(
    frame: pd.DataFrame,
    x: str,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
    logy: bool = False,
    only: tuple[str, ...] | None = None,
):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in _strategies(frame, x):
        if only is not None and s not in only:
            continue
        colour, ls = STYLE.get(s, (None, "-"))
        (line,) = ax.plot(frame[x], frame[s], ls, color=colour, label=s, lw=1.8)
        ax.fill_between(frame[x], frame[f"{s}_q25"], frame[f"{s}_q75"], color=line.get_color(), alpha=0.12, lw=0)
    if logx:
        ax.set_xscale("log")
    if logy:  # symlog: a regret of exactly 0 (the optimum found) stays on the plot
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def front_quality_figure(frame: pd.DataFrame):
    """One panel per front metric: median and bootstrap 95 % interval per strategy."""
    metrics = list(dict.fromkeys(frame["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 4.2), sharey=True)
    for ax, m in zip(np.atleast_1d(axes), metrics):
        g = frame[frame["metric"] == m].reset_index(drop=True)
        y = np.arange(len(g))
        colours = [STYLE.get(s, ("k", "-"))[0] for s in g["strategy"]]
        ax.errorbar(
            g["median"], y, xerr=[g["median"] - g["ci_low"], g["ci_high"] - g["median"]], fmt="none", ecolor="0.5", lw=1
        )
        ax.scatter(g["median"], y, c=colours, s=30, zorder=3)
        ax.set_yticks(y, g["strategy"])
        ax.set_title(m + (" (lower better)" if m == "igd_plus" else ""), fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle("Front quality of the evaluated networks (median, bootstrap 95 % CI)")
    fig.tight_layout()
    return fig


def pareto_figure(frame: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    table = frame[frame["kind"] == "table"]
    ax.scatter(table["val_error"], table["latency_ms"], s=10, color="0.75", label="all networks (seed mean)")
    true = frame[frame["kind"] == "true_front"].sort_values("val_error")
    draw_front(ax, true["val_error"], true["latency_ms"], 28, "true Pareto front")
    for kind in sorted(set(frame["kind"]) - {"table", "true_front"}):
        found = frame[frame["kind"] == kind]
        ax.scatter(
            found["val_error"],
            found["latency_ms"],
            s=22,
            marker="x",
            color="tab:green",
            label=f"{kind.replace('_front', '')} front (median-hypervolume repeat)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("validation error")
    ax.set_ylabel("inference latency (ms)")
    ax.set_title("Pareto front: validation error vs inference latency")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def render(params) -> list[Path]:
    specs: list[tuple[str, str, dict[str, Any]]] = [
        (
            "regret_vs_trial.csv",
            "search_regret_trial.png",
            dict(
                x="trial",
                xlabel="trial",
                ylabel="simple regret (validation error)",
                title="Simple regret vs trials (median, IQR band)",
                logy=True,
            ),
        ),
        (
            "regret_vs_train_seconds.csv",
            "search_regret_train_seconds.png",
            dict(
                x="train_seconds",
                xlabel="cumulative training seconds of the evaluated networks",
                ylabel="simple regret (validation error)",
                only=("random_uniform", "gp_ei", "gp_ei_per_second", "tpe", "tpe_per_second"),
                title="Snoek's setting: regret vs cumulative training time (median, IQR band)",
                logx=True,
                logy=True,
            ),
        ),
        (
            "budget_regret_vs_trial.csv",
            "search_budget_regret.png",
            dict(
                x="trial",
                xlabel="trial",
                ylabel="regret among networks within the latency budget",
                title="Best network under the latency budget (median, IQR band)",
                logy=True,
            ),
        ),
        (
            "hypervolume_vs_trial.csv",
            "search_hypervolume.png",
            dict(
                x="trial",
                xlabel="trial",
                ylabel="hypervolume / true front's",
                title="Hypervolume ratio of (val error, latency) found vs trials",
            ),
        ),
    ]
    written = []
    for source, name, kw in specs:
        path = SOURCE / source
        if not path.is_file():
            continue
        fig = band_figure(pd.read_csv(path), **kw)
        save_figure(OUT / name, fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / name)
    if (SOURCE / "front_quality.csv").is_file():
        fig = front_quality_figure(pd.read_csv(SOURCE / "front_quality.csv"))
        save_figure(OUT / "search_front_quality.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "search_front_quality.png")
    if (SOURCE / "pareto.csv").is_file():
        fig = pareto_figure(pd.read_csv(SOURCE / "pareto.csv", dtype={"arch": str}))
        save_figure(OUT / "search_pareto.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "search_pareto.png")
    return written
