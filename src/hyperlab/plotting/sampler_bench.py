"""Sampler benchmark: regret vs trials per problem, one panel each.

Median over repeats per sampler; an interquartile band only for the ``BANDED`` samplers (GP-EI,
the subject, and random search, the baseline): four overlapping bands hide each other. The
regret axis is symlog (a regret of exactly 0, the optimum found, stays on the plot), linear
below ``LINTHRESH``, which the axis label states.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd

from hyperlab.plotting import save_all
from hyperlab.plotting import style as st

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/sampler_bench")
OUT = Path("plots/figures/sampler_bench")
#: the symlog axis' linear range: regrets below it are drawn linearly down to 0
LINTHRESH = 1e-3
#: the samplers drawn with their interquartile band
BANDED = ("gp_ei", "random")


def regret_figure(curves: pd.DataFrame):
    """One panel per problem: median regret of the best so far per sampler (see the module docstring)."""
    problems = list(dict.fromkeys(curves["problem"]))
    styles = st.styles(dict.fromkeys(curves["sampler"]))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 4.2), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for sampler, g in curves[curves["problem"] == problem].groupby("sampler", sort=False):
            ax.plot(g["trial"], g["median"], lw=1.6, ms=4, markevery=0.12, **styles[sampler].plot_kwargs())
            if sampler in BANDED:
                ax.fill_between(g["trial"], g["q25"], g["q75"], color=styles[sampler].color, alpha=0.15, lw=0)
        ax.set_yscale("symlog", linthresh=LINTHRESH)
        ax.set_ylim(bottom=0)
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("trial")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"regret of the best so far (median)\n(symlog, linear below {LINTHRESH:g})")
    banded = " and ".join(st.label(s) for s in BANDED if s in styles)
    fig.suptitle(
        f"GP samplers vs TPE and random search; IQR band for {banded}"
        if banded
        else "GP samplers vs TPE and random search"
    )
    handles: dict = {}
    for ax in axes[0]:  # one legend, each sampler once even if a problem lacks it
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=len(handles), fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout()
    return fig


def render(params: FiguresParams) -> list[Path]:
    path = SOURCE / "curves.csv"
    if not path.is_file():
        return []
    return save_all([(OUT / "sampler_bench_regret.png", regret_figure(pd.read_csv(path)))], params.dpi)
