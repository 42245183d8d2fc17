"""Figure of the ``hpo_sweep`` stage: hypergradients against search with d varied alone, per kind of hyperparameter.

* ``hpo_sweep_vs_dim.png``: one column per kind (the learning-rate schedule in K knots, the
  L2 in G weight blocks), at equal compute (the stage's headline view). Top: the median
  validation cross-entropy (the objective) of every method of the sweep, faint, and of each
  side's best method (chosen by the objective, as the report's verdicts do), bold, with bars
  from the first to the third quartile over seeds; bottom: the test error of the h each run
  chose. Within a kind only d changes, so the points of a side are joined by a line. The
  crossover on each row's scale is the report's (paired rule), drawn, never recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all
from hyperlab.plotting import style as st

if TYPE_CHECKING:
    from hyperlab.config.sections.figures import FiguresParams

SOURCE = Path("plots/hpo_sweep")
FIGURES = Path("plots/figures/hpo_sweep")
ROWS = (("val_loss", "validation cross-entropy (objective)", 1.0), ("test_error", "test error (%)", 100.0))
SIDES = {"hypergradient": "best_hypergradient", "search": "best_search"}
SIDE_COLORS = {"hypergradient": "#1f77b4", "search": "#d62728"}


def _best_rows(summary: pd.DataFrame, verdicts: list[dict], side: str) -> pd.DataFrame:
    """Per member, the summary row of the side's best method (by the report's verdicts), by d."""
    keys = [(v["family"], v[SIDES[side]]["method"]) for v in verdicts if v[SIDES[side]] is not None]
    rows = [summary[(summary.family == f) & (summary.method == m)] for f, m in keys]
    return pd.concat(rows).sort_values("dim") if rows else summary.iloc[0:0]


def _crossover(ax, dim: int | None, rule: str) -> None:
    if dim is None:
        ax.text(0.02, 0.97, f"no crossover ({rule})", transform=ax.transAxes, fontsize=7, va="top")
        return
    ax.axvline(dim, color="0.3", ls="--", lw=1)
    ax.text(dim, 0.97, f" crossover d = {dim:,}\n ({rule})", transform=ax.get_xaxis_transform(), fontsize=7, va="top")


def kind_panels(axes, summary: pd.DataFrame, kind_report: dict, view: str) -> None:
    """The two rows of one kind (module docstring) on ``axes`` (top, bottom)."""
    ran = summary[summary["ran"].astype(bool)]
    verdicts, paired = kind_report["views"][view]["verdicts"], kind_report["views"][view]["paired"]
    styles = st.styles(list(dict.fromkeys(ran["method"])))
    for ax, (col, name, scale) in zip(axes, ROWS):
        for method, g in ran.groupby("method", sort=False):
            g = g.sort_values("dim")
            ax.plot(g["dim"], scale * g[col], lw=0.8, alpha=0.35, color=styles[method].color, marker=".", ms=4)
        for side, color in SIDE_COLORS.items():
            best = _best_rows(ran, verdicts, side)
            y = scale * best[col].to_numpy(float)
            err = None
            if col == "val_loss":
                err = np.vstack([best[col] - best[f"{col}_q1"], best[f"{col}_q3"] - best[col]])
            ax.errorbar(best["dim"], y, yerr=err, color=color, lw=2, marker="o", ms=5, capsize=3, label=f"best {side}")
            for d, v, m in zip(best["dim"], y, best["method"]):
                ax.annotate(m, (d, v), textcoords="offset points", xytext=(3, 4), fontsize=6, color=color)
        ax.set_xscale("log")
        ax.set_ylabel(name)
        _crossover(ax, paired["crossover"][col]["dim"], "paired rule: ahead on every seed")
    axes[-1].set_xlabel("dimension d of h (log scale)")


def vs_dim_figure(summary: pd.DataFrame, report: dict):
    """The figure of the module docstring, from the stage's summary.csv and report.json."""
    kinds = list(report["kinds"])
    view = report["headline_view"]
    fig, axes = plt.subplots(len(ROWS), len(kinds), figsize=(6.2 * len(kinds), 7.5), squeeze=False, sharex="col")
    for j, kind in enumerate(kinds):
        kind_panels(axes[:, j], summary[summary["kind"] == kind], report["kinds"][kind], view)
        sizes = ", ".join(f"{m['size']:,}" for m in report["kinds"][kind]["members"])
        axes[0, j].set_title(f"{kind}: sizes {sizes}", fontsize=9)
    axes[0, 0].legend(fontsize=8, frameon=False, loc="lower left")
    names = {"compute": "equal compute", "steps": "step budget"}
    title = f"d varied alone within one kind of hyperparameter ({names.get(view, view)}"
    fig.suptitle(f"{title}; faint: every method's median)")
    fig.tight_layout()
    return fig


def render(params: FiguresParams) -> list[Path]:
    summary_path, report_path = SOURCE / "summary.csv", SOURCE / "report.json"
    if not (summary_path.is_file() and report_path.is_file()):
        return []
    figure = vs_dim_figure(pd.read_csv(summary_path), json.loads(report_path.read_text()))
    return save_all([(FIGURES / "hpo_sweep_vs_dim.png", figure)], params.dpi)
