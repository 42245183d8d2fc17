"""Figures of the ``hypernet`` stage (Lorraine & Duvenaud 2018 on the toy problem).

* ``hypernet_surfaces_<variant>.png``: (h, w, L_train) and (h, w, L_val) as 3-D
  surfaces and contour maps with each kind's learned best response w_phi(h)
  (solid over the sampled region, dotted outside), the true w*(h) = -h (dashed
  black) and the path of (h_hat, w_phi(h_hat)).
* ``hypernet_response.png``: the 2-D view: w_phi(h) against w*(h) per variant,
  the error |w_phi(h) - w*(h)| on a log scale, and |h_hat| against the outer step.
* ``hypernet_local_tracking.png``: the local variant's curve at a few steps,
  each with its h_hat: the hypernetwork is right where h_hat is, not elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.bilevel.names import HYPERNET_KINDS as KINDS
from hyperlab.bilevel.names import HYPERNET_VARIANTS as VARIANTS
from hyperlab.plotting import save_all, style
from hyperlab.plotting.surfaces import Path2D, shared_legend, surface_figure

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/hypernet")
OUT = Path("plots/figures/hypernet")
# Each kind keeps its colour and marker from the style module; the variant is the line style.
LOOKS = style.styles(KINDS)
COLORS = {kind: s.color for kind, s in LOOKS.items()}
STYLES = {"global": "-", "local": ":"}
# Markers per line on the long outer paths: enough to name the kind in greyscale.
MARKS = 12
# The two kinds often coincide with w*: the linear curve is drawn wide and pale under the MLP.
WIDTHS = {"linear": 4.5, "mlp": 1.8}
ALPHAS = {"linear": 0.6, "mlp": 1.0}
# Log-scale floor: float32 errors reach exact zero long before the plot cares.
FLOOR = 1e-12


def load(source: Path = SOURCE) -> dict[tuple[str, str], dict[str, pd.DataFrame]]:
    """{(variant, kind): {"curve", "path", "phi_loss"[, "snapshots"]}} for every run with plot data."""
    runs = {}
    for variant in VARIANTS:
        for kind in KINDS:
            name = f"{variant}_{kind}"
            files = {
                "curve": source / "curves" / f"{name}.csv",
                "path": source / "paths" / f"{name}.csv",
                "phi_loss": source / "phi_loss" / f"{name}.csv",
                "snapshots": source / f"snapshots_{name}.csv",
            }
            if not files["curve"].is_file() or not files["path"].is_file():
                continue
            runs[variant, kind] = {k: pd.read_csv(f) for k, f in files.items() if f.is_file()}
    return runs


def _inside(w: np.ndarray, lim: tuple[float, float]) -> np.ndarray:
    """``w`` with values beyond the plotted w range masked, so a wild extrapolation cannot rescale the axes."""
    return np.where((w >= lim[0]) & (w <= lim[1]), w, np.nan)


def _every(table: pd.DataFrame) -> int:
    """``markevery`` for a line through the rows of ``table``: about ``MARKS`` markers."""
    return max(len(table) // MARKS, 1)


def surfaces(variant: str, runs: dict) -> plt.Figure:
    some = next(iter(runs.values()))["curve"]
    h = some["h"].to_numpy()
    h_lim = (float(h.min()), float(h.max()))
    w_lim = (-h_lim[1], -h_lim[0])
    paths = [
        Path2D(
            "true best response w*(h) = -h",
            h,
            -h,
            color="k",
            mark_ends=False,
            style={"ls": "--", "lw": 1.3, "zorder": 7},
        )
    ]
    for (v, kind), data in runs.items():
        if v != variant:
            continue
        curve, path = data["curve"], data["path"]
        w = _inside(curve["w_phi"].to_numpy(), w_lim)
        sampled = curve["sampled"].to_numpy().astype(bool)
        paths.append(
            Path2D(
                f"w_phi(h), {style.label(kind)} (sampled h)",
                h,
                np.where(sampled, w, np.nan),
                color=COLORS[kind],
                mark_ends=False,
                style={"lw": WIDTHS[kind], "alpha": ALPHAS[kind]},
            )
        )
        paths.append(
            Path2D(
                "_nolegend_",
                h,
                np.where(sampled, np.nan, w),
                color=COLORS[kind],
                mark_ends=False,
                style={"ls": ":", "lw": 1.2},
            )
        )
        paths.append(
            Path2D(
                f"outer path (h_hat, w_phi(h_hat)), {style.label(kind)}",
                path["h_hat"].to_numpy(),
                _inside(path["w_phi_h_hat"].to_numpy(), w_lim),
                color=COLORS[kind],
                highlight=True,
                style={"ls": "-", "lw": 1.0, "marker": LOOKS[kind].marker, "ms": 4, "markevery": _every(path)},
            )
        )
    how = (
        "phi fitted on h ~ U(range), then h_hat descended with phi frozen"
        if variant == "global"
        else "h ~ N(h_hat, sigma²): one phi step, one h_hat step, alternating"
    )
    title = f"Hypernetwork best response, {variant} variant ({how}); seed 0"
    return surface_figure(paths, title, h_range=h_lim, w_range=w_lim)


def _response_panel(ax, variant: str, shown: list) -> None:
    """Top row: each kind's learned w_phi(h) against the true w*(h), with its final h_hat."""
    h = shown[0][1]["curve"]["h"].to_numpy()
    for kind, data in shown:
        curve, path = data["curve"], data["path"]
        name = style.label(kind)
        ax.plot(h, curve["w_phi"], color=COLORS[kind], lw=WIDTHS[kind], alpha=ALPHAS[kind], label=f"w_phi(h), {name}")
        ax.plot(
            path["h_hat"].iloc[-1],
            path["w_phi_h_hat"].iloc[-1],
            "*",
            ms=13,
            color=COLORS[kind],
            mec="k",
            label=f"final h_hat, {name}",
        )
        sampled = curve["sampled"].to_numpy().astype(bool)
        if sampled.any():
            ax.axvspan(h[sampled].min(), h[sampled].max(), color="0.5", alpha=0.08, label="sampled h (shaded)")
    ax.plot(h, -h, "k--", lw=1.3, label="true best response w*(h) = -h", zorder=4)
    where = "h ~ U(range)" if variant == "global" else "final h_hat ± 2 sigma"
    ax.set(
        xlabel="hyperparameter h",
        ylabel="weight w",
        title=f"{variant}: learned vs true best response (shaded: {where})",
    )
    ax.grid(alpha=0.3)


def _run_kwargs(variant: str, kind: str, table: pd.DataFrame) -> dict:
    """Bottom row: a run's colour and marker from its kind, line style from its variant."""
    return LOOKS[kind].plot_kwargs(
        ls=STYLES[variant], label=f"{variant} variant, {style.label(kind)}", ms=4, markevery=_every(table)
    )


def response(runs: dict) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(13, 10))
    for ax, variant in zip(axes[0], VARIANTS):
        shown = [(k, d) for (v, k), d in runs.items() if v == variant]
        if shown:
            _response_panel(ax, variant, shown)
        else:
            ax.set_visible(False)

    ax = axes[1, 0]
    for (variant, kind), data in runs.items():
        curve = data["curve"]
        err = np.maximum(np.abs(curve["w_phi"] - curve["w_star"]), FLOOR)
        ax.semilogy(curve["h"], err, **_run_kwargs(variant, kind, curve))
    ax.set(
        xlabel="hyperparameter h",
        ylabel="best-response error |w_phi(h) - w*(h)|",
        title="Best-response error (float32 floor 1e-12)",
    )
    ax.grid(alpha=0.3, which="both")

    ax = axes[1, 1]
    for (variant, kind), data in runs.items():
        path = data["path"]
        ax.semilogy(path["step"], np.maximum(np.abs(path["h_hat"]), FLOOR), **_run_kwargs(variant, kind, path))
    ax.set(
        xlabel="outer step (global: after its phi steps)",
        ylabel="distance to the optimum |h_hat|",
        title="Outer problem: |h_hat| (optimum h = 0)",
    )
    ax.grid(alpha=0.3, which="both")
    fig.suptitle("Hypernetworks on L_train = |h+w|², L_val = |w|²: learned best response and outer path (seed 0)")
    shared_legend(fig, list(axes.flat), ncol=4, top=0.96)
    return fig


def tracking(runs: dict) -> plt.Figure | None:
    local = [(k, d["snapshots"]) for (v, k), d in runs.items() if v == "local" and "snapshots" in d]
    if not local:
        return None
    fig, axes = plt.subplots(1, len(local), figsize=(6.5 * len(local), 5.6), squeeze=False)
    # One colour per snapshot step across the panels, so the shared legend names each step once.
    steps = sorted(set().union(*(snaps["step"].unique() for _, snaps in local)))
    colors = {step: plt.get_cmap("viridis")(i / max(len(steps) - 1, 1)) for i, step in enumerate(steps)}
    for ax, (kind, snaps) in zip(axes[0], local):
        h_all = snaps["h"].to_numpy()
        first = snaps["step"] == snaps["step"].min()
        ax.plot(h_all[first], -h_all[first], "k--", lw=1.3, label="true best response w*(h) = -h")
        for step in sorted(snaps["step"].unique()):
            rows = snaps[snaps["step"] == step]
            h, w = rows["h"].to_numpy(), rows["w_phi"].to_numpy()
            h_hat = float(rows["h_hat"].iloc[0])
            ax.plot(h, w, color=colors[step], lw=1.5, label=f"w_phi(h) at outer step {step}")
            ax.plot([h_hat], [np.interp(h_hat, h, w)], "o", color=colors[step], mec="k", ms=7)
        ax.set(
            xlabel="hyperparameter h",
            ylabel="weight w",
            title=f"local {style.label(kind)}: w_phi(h) as h_hat moves (o: h_hat)",
            ylim=(-1.6 * np.abs(h_all).max(), 1.6 * np.abs(h_all).max()),
        )
        ax.grid(alpha=0.3)
    fig.suptitle("Local hypernetwork: fitted near the current h_hat only (seed 0)")
    shared_legend(fig, list(axes[0]), ncol=4, top=0.95)
    return fig


def render(params: FiguresParams) -> list[Path]:
    runs = load()
    if not runs:
        return []
    figures: dict[Path, plt.Figure | None] = {
        OUT / f"hypernet_surfaces_{v}.png": surfaces(v, runs) for v in VARIANTS if any(key[0] == v for key in runs)
    }
    figures[OUT / "hypernet_response.png"] = response(runs)
    figures[OUT / "hypernet_local_tracking.png"] = tracking(runs)
    return save_all(figures.items(), params.dpi)
