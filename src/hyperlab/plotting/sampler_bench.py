"""Sampler benchmark: regret vs trials per problem (median and IQR band), one panel each."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from hyperlab.io import save_figure

SOURCE = Path("plots/sampler_bench")
OUT = Path("plots/figures/sampler_bench")
STYLE = {
    "gp_ei": ("tab:blue", "-"),
    "gp_ei_per_second": ("tab:blue", "--"),
    "tpe": ("tab:orange", "-"),
    "random": ("0.45", "-"),
}


def render(params) -> list[Path]:
    path = SOURCE / "curves.csv"
    if not path.is_file():
        return []
    curves = pd.read_csv(path)
    problems = list(dict.fromkeys(curves["problem"]))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 4.2), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for sampler, g in curves[curves["problem"] == problem].groupby("sampler", sort=False):
            colour, ls = STYLE.get(sampler, (None, "-"))
            (line,) = ax.plot(g["trial"], g["median"], ls, color=colour, label=sampler, lw=1.8)
            ax.fill_between(g["trial"], g["q25"], g["q75"], color=line.get_color(), alpha=0.12, lw=0)
        ax.set_yscale("symlog", linthresh=1e-3)  # a regret of exactly 0 stays on the plot
        ax.set_ylim(bottom=0)
        ax.set_title(problem)
        ax.set_xlabel("trial")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("regret of the best so far (median, IQR)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("GP samplers vs TPE and random search")
    fig.tight_layout()
    out = OUT / "sampler_bench_regret.png"
    save_figure(out, fig, dpi=params.dpi)
    plt.close(fig)
    return [out]
