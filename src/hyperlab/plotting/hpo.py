"""Figures of the ``hpo`` stage (hypergradient methods vs Bayesian optimization on MNIST).

* ``hpo_best.png``: best validation loss found so far against wall-clock seconds (after
  compilation) and against inner gradient steps; median over seeds. The y axis keeps the
  informative range (``readable_limit``); a method whose final median lies above it is named
  with its value in the panel. Quartile bands only for the best gradient method and the best
  search method of a panel (the comparison asked): more overlap into one smear.
* ``hpo_h_paths.png``: each coordinate of h against inner steps, with the box h lives in.
  Gradient methods: their path, median over seeds. Search methods: their incumbent path,
  the h of the best trial so far, median over seeds (steps, dashed). Methods whose median
  paths coincide within ``COINCIDE`` on every coordinate are named together.
* ``hpo_hypergrad_error.png``: each hypergradient's relative error against exact reverse
  mode at the checked points (point 0 is h0, the start; the others uniform draws from the
  box, as ``hyperlab.hpo.experiment.accuracy_table`` draws them), each labelled with its h.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all
from hyperlab.plotting import style as st

if TYPE_CHECKING:
    from hyperlab.config.sections.figures import FiguresParams

SOURCE = Path("plots/hpo")
FIGURES = Path("plots/figures/hpo")
BAYES = ("gp_ei", "tpe", "random", "cmaes")
#: median paths closer than this fraction of the box's width (every coordinate, every shared round) coincide
COINCIDE = 0.075
POINT_COLOURS = ("0.15", "0.5", "0.8", "0.65", "0.35")


def coordinate_label(name: str) -> str:
    """Human name of a coordinate of h: ``log_l2_<i>`` is layer i+1's λ (penalty ½ e^λ ‖W‖²), ``log_lr`` ln α."""
    if m := re.fullmatch(r"log_l2_(\d+)", name):
        return f"λ{int(m.group(1)) + 1} = ln L2 coefficient, layer {int(m.group(1)) + 1}"
    if name == "log_lr":
        return "ln learning rate α"
    return name


def box_limits(name: str, problem: dict) -> tuple[float, float] | None:
    """The box of coordinate ``name`` from the report's problem parameters (``l2_box`` in log units,
    ``lr_box`` in learning-rate units, so its log); None when the report does not say."""
    if name.startswith("log_l2_") and "l2_box" in problem:
        return float(problem["l2_box"][0]), float(problem["l2_box"][1])
    if name == "log_lr" and "lr_box" in problem:
        return math.log(problem["lr_box"][0]), math.log(problem["lr_box"][1])
    return None


def readable_limit(values) -> float:
    """Upper y limit keeping the informative range: Q3 + 4 IQR of ``values`` (a widened Tukey fence)."""
    q1, q3 = (float(np.nanpercentile(values, q)) for q in (25, 75))
    return q3 + 4.0 * max(q3 - q1, 1e-3 * max(abs(q3), 1e-12))


def best_so_far(trace: pd.DataFrame, x: str, grid: np.ndarray) -> np.ndarray:
    """(seeds, len(grid)): the best val loss among each seed's rounds with ``x`` <= grid (NaN before its first)."""
    out = []
    for _, g in trace.groupby("seed"):
        g = g.sort_values(x)
        best = np.minimum.accumulate(g["val_loss"].to_numpy())
        idx = np.searchsorted(g[x].to_numpy(), grid, side="right") - 1
        out.append(np.where(idx >= 0, best[np.maximum(idx, 0)], np.nan))
    return np.array(out)


def _quartiles(trace: pd.DataFrame, x: str, grid: np.ndarray) -> np.ndarray:
    curves = best_so_far(trace, x, grid)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN before a method's first value
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.array([np.nanpercentile(curves, q, axis=0) for q in (25, 50, 75)])


def banded(finals: pd.Series) -> list[str]:
    """The methods given a quartile band: the best gradient method and the best search method (the question)."""
    search = finals.index.isin(BAYES)
    return [s.idxmin() for s in (finals[~search].dropna(), finals[search].dropna()) if len(s)]


def _best_panel(ax, trace: pd.DataFrame, x: str, grid: np.ndarray, styles: dict) -> None:
    """Median best-so-far per method; bands for the best of each side; off-scale methods named with their value."""
    q = {m: _quartiles(trace[trace["method"] == m], x, grid) for m in styles}
    finals = pd.Series({m: v[1][np.isfinite(v[1])][-1] if np.isfinite(v[1]).any() else np.nan for m, v in q.items()})
    top = readable_limit(finals)
    for m, v in q.items():
        ax.plot(grid, v[1], lw=1.6, markevery=max(len(grid) // 8, 1), ms=4, **styles[m].plot_kwargs())
    for m in banded(finals):
        ax.fill_between(grid, q[m][0], q[m][2], color=styles[m].color, alpha=0.15, lw=0)
    off = finals[finals > top]
    bottom = float(np.nanmin([np.nanmin(q[m][0]) for m in finals.index if finals[m] <= top]))
    ax.set_ylim(bottom - 0.05 * (top - bottom), top)
    if len(off):
        text = "off scale above (final median):\n" + "\n".join(f"{styles[m].label}: {v:.3f}" for m, v in off.items())
        ax.text(
            0.98,
            0.97,
            text,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            bbox=dict(fc="white", ec=st.GREY, lw=0.5),
        )
    ax.grid(alpha=0.3)


def best_figure(trace: pd.DataFrame, budget_seconds: float | None, step_budget: int | None):
    """Best validation loss so far against seconds and against inner steps (see the module docstring)."""
    styles = st.styles(dict.fromkeys(trace["method"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, x, limit, label in (
        (axes[0], "wall_s", budget_seconds, "wall-clock seconds (after compilation)"),
        (axes[1], "inner_steps", step_budget, "inner gradient steps"),
    ):
        _best_panel(ax, trace, x, np.linspace(0, limit or trace[x].max(), 200), styles)
        ax.set_xlabel(label)
    axes[0].set_ylabel("best validation cross-entropy so far (median over seeds)")
    axes[0].set_title("same wall-clock budget (machine-dependent)", fontsize=10)
    axes[1].set_title("same inner-step budget (deterministic)", fontsize=10)
    fig.suptitle("Best h found so far; quartile band for the best gradient and the best search method of each panel")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=6, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def incumbent_path(trace: pd.DataFrame, coord: str) -> pd.DataFrame:
    """A search method's path: per seed the ``coord`` of the best trial so far; median over seeds per round."""
    rows = []
    for _, g in trace.groupby("seed"):
        g = g.sort_values("round")
        best = np.minimum.accumulate(g["val_loss"].to_numpy())
        at = [int(np.flatnonzero(g["val_loss"].to_numpy() == b)[0]) for b in best]
        rows.append(
            pd.DataFrame(
                {"round": g["round"].to_numpy(), "steps": g["inner_steps"].to_numpy(), "v": g[coord].to_numpy()[at]}
            )
        )
    return pd.concat(rows).groupby("round").median()


def median_path(trace: pd.DataFrame, coord: str) -> pd.DataFrame:
    """A gradient method's path: ``coord`` and inner steps per round, median over seeds."""
    return trace.groupby("round").agg(steps=("inner_steps", "median"), v=(coord, "median"))


def coinciding(paths: dict[str, pd.DataFrame]) -> list[list[str]]:
    """Groups (two or more) of methods whose paths differ by less than ``COINCIDE`` at every shared round.

    ``paths`` maps method -> frame indexed by round with one column per coordinate, in box widths.
    """
    groups: list[list[str]] = []
    for m, p in paths.items():
        for group in groups:
            q = paths[group[0]]
            shared = p.index.intersection(q.index)
            if len(shared) and float(np.nanmax(np.abs(p.loc[shared].to_numpy() - q.loc[shared].to_numpy()))) < COINCIDE:
                group.append(m)
                break
        else:
            groups.append([m])
    return [g for g in groups if len(g) > 1]


def paths_figure(trace: pd.DataFrame, coords: list[str], step_budget: int | None, problem: dict):
    """h against inner steps per coordinate (see the module docstring)."""
    if step_budget:
        trace = trace[trace["inner_steps"] <= step_budget]
    styles = st.styles(dict.fromkeys(trace["method"]))
    fig, axes = plt.subplots(1, len(coords), figsize=(5 * len(coords), 4.6), squeeze=False)
    for ax, c in zip(axes[0], coords):
        for m, s in styles.items():
            g = trace[trace["method"] == m]
            if m in BAYES:
                p = incumbent_path(g, c)
                kw = s.plot_kwargs(lw=1.2, drawstyle="steps-post", alpha=0.85, ms=3, markevery=4)
                ax.plot(p["steps"], p["v"], **kw)
            else:
                p = median_path(g, c)
                ax.plot(p["steps"], p["v"], lw=1.6, ms=3, markevery=3, **s.plot_kwargs())
        if box := box_limits(c, problem):
            for edge in box:
                ax.axhline(edge, color=st.GREY, lw=1, ls=(0, (1, 2)), label="box of h")
        ax.set_xlabel("inner gradient steps")
        ax.set_ylabel(coordinate_label(c))
        ax.grid(alpha=0.3)
    widths = [np.diff(box_limits(c, problem) or (trace[c].min(), trace[c].max() + 1e-12))[0] for c in coords]
    grad = {
        m: pd.concat(
            [median_path(trace[trace.method == m], c)["v"].rename(c) / w for c, w in zip(coords, widths)], axis=1
        )
        for m in styles
        if m not in BAYES
    }
    same = "; ".join(" = ".join(styles[m].label for m in g) for g in coinciding(grad))
    fig.suptitle(
        "h against inner steps. Gradient methods: median path over seeds. Search: incumbent "
        "(h of the best trial so far), median over seeds"
        + (f"\nCoincide (paths within {COINCIDE:.1%} of the box on every coordinate): {same}" if same else ""),
        fontsize=10,
    )
    handles = dict(zip(*reversed(axes[0][0].get_legend_handles_labels())))
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=6,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    return fig


def point_label(row: pd.Series, coords: list[str]) -> str:
    """What a checked point is: h0 or a uniform draw, with its h (λ per layer, α as a learning rate)."""
    kind = "point 0: h0 (the start)" if int(row["point"]) == 0 else f"point {int(row['point'])}: uniform draw"
    values = [float(row[f"h_{i}"]) for i in range(len(coords)) if f"h_{i}" in row]
    parts = [
        f"α = {math.exp(v):.3g}" if c == "log_lr" else f"{c.replace('log_l2_', 'λ')} = {v:.1f}"
        for c, v in zip(coords, values)
    ]
    parts = [re.sub(r"λ(\d+)", lambda m: f"λ{int(m.group(1)) + 1}", p) for p in parts]
    return f"{kind}, " + ", ".join(parts)


def error_figure(acc: pd.DataFrame, coords: list[str]):
    """Relative error of each hypergradient against exact reverse mode at each checked point."""
    acc = acc[acc["method"] != "exact"]  # the reference itself: zero by construction
    methods = list(dict.fromkeys(acc["method"]))
    points = acc.drop_duplicates("point").sort_values("point")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(points), 1)
    for j, (_, row) in enumerate(points.iterrows()):
        vals = np.array(
            [float(acc[(acc.method == m) & (acc.point == row["point"])]["rel_err"].iloc[0]) for m in methods]
        )
        x = np.arange(len(methods)) + j * width
        ax.bar(
            x,
            np.where(np.isfinite(vals), np.maximum(vals, 1e-8), np.nan),
            width,
            edgecolor="k",
            lw=0.5,
            color=POINT_COLOURS[j % len(POINT_COLOURS)],
            label=point_label(row, coords),
        )
        for xi in x[~np.isfinite(vals)]:  # a NaN is shown, never dropped
            ax.text(xi, 0.02, "NaN", transform=ax.get_xaxis_transform(), ha="center", rotation=90, fontsize=7)
    ax.set_xticks(np.arange(len(methods)) + 0.4 - width / 2, [st.label(m) for m in methods], rotation=20, ha="right")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="relative error 1 (as far off as a zero gradient)")
    ax.set_ylabel("|g − g_exact| / |g_exact|")
    ax.set_title("Hypergradients against exact reverse mode (IFT: L2 coordinates only)")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def render(params: FiguresParams) -> list[Path]:
    trace_path = SOURCE / "trace.csv"
    if not trace_path.is_file():
        return []
    trace = pd.read_csv(trace_path)
    report_path = SOURCE / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    budget, steps = report.get("params", {}).get("budget_seconds"), report.get("params", {}).get("step_budget")
    coords = report.get("coordinates") or [c for c in trace.columns if c.startswith("log_")]
    figures = [
        ("hpo_best.png", best_figure(trace, budget, steps)),
        ("hpo_h_paths.png", paths_figure(trace, coords, steps, report.get("params", {}))),
    ]
    acc_path = SOURCE / "hypergrad_accuracy.csv"
    if acc_path.is_file():
        figures.append(("hpo_hypergrad_error.png", error_figure(pd.read_csv(acc_path), coords)))
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
