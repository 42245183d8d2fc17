"""Architecture search: the three regrets (search, observed incumbent, GP recommendation) vs trials, regret
vs cumulative training seconds and under a latency budget,
the hypervolume gap vs trials, front quality four ways, Pareto fronts.

The curve figures are small multiples, one panel per model family (GP-EI variants, TPE
variants, the rest), so that at most three strategies share a panel; the random baselines
are drawn in every panel as the reference, and only each panel's plain strategy and the
uniform baseline get an interquartile band. Regret axes are symlog (a regret of exactly 0,
the optimum found, stays on the plot), linear below ``LINTHRESH``, which the axis label
states. The hypervolume panel plots the gap 1 − HV(found) / HV(true front) on a log axis, so
ratios of 0.90 and 0.94 are as far apart as ``search_front_quality`` reports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import draw_front, save_all
from hyperlab.plotting import style as st

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/search")
OUT = Path("plots/figures/search")
#: the symlog axes' linear range: regrets below it are drawn linearly down to 0
LINTHRESH = 1e-3
#: drawn in every panel as the reference
BASELINES = ("random_uniform", "random_layerwise")
#: the smallest hypervolume gap drawn (a found front equal to the true one has gap 0)
GAP_FLOOR = 1e-4


def strategies(frame: pd.DataFrame, x: str) -> list[str]:
    """The strategies of a curve table: every column but ``x`` and the quartile columns."""
    return [c for c in frame.columns if c != x and not c.endswith(("_q25", "_q75"))]


def panels(names: list[str]) -> list[tuple[str, list[str]]]:
    """Small multiples: (title, strategies) per model family; baselines go in every panel, not in these."""
    fams: dict[str, list[str]] = {"GP-EI variants": [], "TPE variants": [], "other strategies": []}
    for s in names:
        if s in BASELINES:
            continue
        key = "GP-EI variants" if "gp_ei" in s else "TPE variants" if s.startswith("tpe") else "other strategies"
        fams[key].append(s)
    return [(title, members) for title, members in fams.items() if members]


def _curve(ax, frame: pd.DataFrame, x: str, s: str, style: st.Style, band: bool, gap: bool) -> None:
    y, lo, hi = frame[s], frame[f"{s}_q25"], frame[f"{s}_q75"]
    if gap:  # 1 − ratio: the upper quartile of the ratio is the lower one of the gap
        y, lo, hi = ((1 - v).clip(lower=GAP_FLOOR) for v in (y, hi, lo))
    ax.plot(frame[x], y, lw=1.6 if band else 1.3, ms=4, markevery=0.12, **style.plot_kwargs())
    if band:
        ax.fill_between(frame[x], lo, hi, color=style.color, alpha=0.15, lw=0)


def band_figure(frame: pd.DataFrame, spec: dict):
    """Small multiples of one curve table; ``spec``: x, xlabel, ylabel, title, optional logx, logy, gap, only."""
    x, only = spec["x"], spec.get("only")
    names = [s for s in strategies(frame, x) if only is None or s in only]
    styles = st.styles(names)
    groups = panels(names)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 4.2), sharey=True, squeeze=False)
    for ax, (title, members) in zip(axes[0], groups):
        for s in [b for b in BASELINES if b in names] + members:
            _curve(ax, frame, x, s, styles[s], s in (members[0], BASELINES[0]), spec.get("gap", False))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(spec["xlabel"])
        ax.grid(alpha=0.3)
        if spec.get("logx"):
            ax.set_xscale("log")
    ylabel = spec["ylabel"]
    if spec.get("logy"):
        axes[0][0].set_yscale("symlog", linthresh=LINTHRESH)
        axes[0][0].set_ylim(bottom=0)
        ylabel += f"\n(symlog, linear below {LINTHRESH:g})"
    if spec.get("gap"):
        axes[0][0].set_yscale("log")
        low = min(float((1 - frame[s + "_q75"]).min()) for s in names)
        ylabel += f"\n(log; gaps below {GAP_FLOOR:g} drawn at it)" if low <= GAP_FLOOR else "\n(log axis)"
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(spec["title"] + "; median, IQR band for each panel's plain strategy and uniform random", fontsize=10)
    _shared_legend(fig, axes[0])
    fig.tight_layout()
    return fig


def _shared_legend(fig, axes, ncol: int = 5) -> None:
    """One legend for the figure, below the axes, each label once."""
    handles: dict = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol,
        fontsize=8,
        frameon=False,
    )


def front_quality_figure(frame: pd.DataFrame):
    """One panel per front metric: median and bootstrap 95 % interval per strategy."""
    metrics = list(dict.fromkeys(frame["metric"]))
    styles = st.styles(dict.fromkeys(frame["strategy"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 4.2), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], metrics):
        g = frame[frame["metric"] == m].reset_index(drop=True)
        y = np.arange(len(g))
        ax.errorbar(
            g["median"], y, xerr=[g["median"] - g["ci_low"], g["ci_high"] - g["median"]], fmt="none", ecolor="0.5", lw=1
        )
        for yi, (s, v) in enumerate(zip(g["strategy"], g["median"])):
            ax.scatter(v, yi, s=30, zorder=3, **styles[s].scatter_kwargs())
        ax.set_yticks(y, [styles[s].label for s in g["strategy"]])
        ax.set_title(m + (" (lower better)" if m == "igd_plus" else ""), fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle("Front quality of the evaluated networks (median, bootstrap 95 % CI)")
    fig.tight_layout()
    return fig


def pareto_figure(frame: pd.DataFrame):
    """All networks, the true Pareto front and each strategy's found front (its median-hypervolume repeat)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    table = frame[frame["kind"] == "table"]
    ax.scatter(table["val_error"], table["latency_ms"], s=10, color="0.8", label="all networks (seed mean)")
    true = frame[frame["kind"] == "true_front"].sort_values("val_error")
    draw_front(ax, true["val_error"], true["latency_ms"], 28, "true Pareto front")
    for kind in sorted(set(frame["kind"]) - {"table", "true_front"}):
        found, name = frame[frame["kind"] == kind], kind.removesuffix("_front")
        kw = st.style(name).scatter_kwargs(label=f"{st.label(name)} front (median-hypervolume repeat)")
        ax.scatter(found["val_error"], found["latency_ms"], s=26, **kw)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("validation error")
    ax.set_ylabel("inference latency (ms)")
    ax.set_title("Pareto front: validation error vs inference latency")
    ax.grid(alpha=0.3, which="both")
    _shared_legend(fig, [ax], ncol=2)
    fig.tight_layout()
    return fig


REGRET = "simple regret (validation error)"
SPECS: list[tuple[str, str, dict]] = [
    ("regret_vs_trial.csv", "search_regret_trial.png",
     dict(x="trial", xlabel="trial", ylabel=REGRET, title="Regret of the observed incumbent vs trials", logy=True)),
    ("search_regret_vs_trial.csv", "search_regret_found_trial.png",
     dict(x="trial", xlabel="trial", ylabel="search regret (best evaluated network's seed-mean error − best)",
          title="Search regret: the best network found vs trials", logy=True)),
    ("recommendation_regret_vs_trial.csv", "search_regret_recommended_trial.png",
     dict(x="trial", xlabel="trial", ylabel="regret of the GP's recommendation",
          title="Recommendation regret (lowest GP posterior mean among the evaluated) vs trials", logy=True)),
    ("regret_vs_train_seconds.csv", "search_regret_train_seconds.png",
     dict(x="train_seconds", xlabel="cumulative training seconds of the evaluated networks", ylabel=REGRET,
          only=("random_uniform", "gp_ei", "gp_ei_per_second", "tpe", "tpe_per_second"),
          title="Snoek's setting: regret vs cumulative training time", logx=True, logy=True)),
    ("budget_regret_vs_trial.csv", "search_budget_regret.png",
     dict(x="trial", xlabel="trial", ylabel="regret among networks within the latency budget",
          title="Best network under the latency budget", logy=True)),
    ("hypervolume_vs_trial.csv", "search_hypervolume.png",
     dict(x="trial", xlabel="trial", ylabel="1 − hypervolume / true front's", gap=True,
          title="Hypervolume gap of the (val error, latency) front found vs trials")),
]  # fmt: skip


def render(params: FiguresParams) -> list[Path]:
    figures = [(OUT / name, band_figure(pd.read_csv(SOURCE / src), spec)) for src, name, spec in SPECS
               if (SOURCE / src).is_file()]  # fmt: skip
    if (SOURCE / "front_quality.csv").is_file():
        figures.append(
            (OUT / "search_front_quality.png", front_quality_figure(pd.read_csv(SOURCE / "front_quality.csv")))
        )
    if (SOURCE / "pareto.csv").is_file():
        figures.append(
            (OUT / "search_pareto.png", pareto_figure(pd.read_csv(SOURCE / "pareto.csv", dtype={"arch": str})))
        )
    return save_all(figures, params.dpi)
