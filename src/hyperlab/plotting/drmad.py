"""Figures of the ``drmad`` stage (DrMAD and K-piece trajectory linearization).

* ``drmad_outer.png``: each method's outer trajectory (h, w_T) on the surfaces
  (h, w, L_train) and (h, w, L_val). On the quadratic toy the h-hypergradient is exact for
  every K, so these paths nearly coincide; the title says so, with the largest gap measured.
* ``drmad_outer_lr.png``: where the methods differ: their outer paths in (h, learning rate)
  over L_val(w_T) (``val_surface.csv``), the learning rate and L_val against the outer step.
* ``drmad_inner.png``: at the first outer step, the true inner trajectory w_t against the
  K-piece line ŵ_t the reverse pass reads, one panel per K, and |w_t − ŵ_t| per K (log).
  (An inner run keeps h fixed: on the (h, w) surfaces every one of these paths is the
  segment h = h0, which is why they are drawn against t.)
* ``drmad_inner_time.png``: the same paths as w_t and α v_t = w_t − w_{t−1} against t.
* ``drmad_error.png``: hypergradient relative error against K, and the trajectory vectors
  each method's reverse pass measurably keeps (``memory.csv``; the formula K + 1 as a reference).

Everything is read from ``plots/drmad``; nothing is computed here beyond differences of columns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FormatStrFormatter

from hyperlab.plotting import save_all
from hyperlab.plotting import style as st
from hyperlab.plotting.surfaces import Path2D, shared_legend, surface_figure

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/drmad")
FIGURES = Path("plots/figures/drmad")
# Relative errors of exactly 0 (or rounding, ~1e-16) are drawn at this floor on log axes.
FLOOR = 1e-17
COMPONENTS = (("h", "h"), ("log_lr", "log α (learning rate)"), ("momentum", "γ (momentum)"))
# Outer paths whose largest gap to exact reverse mode is below this fraction of the exact
# path's extent are "coinciding": closer than a line's width on the surfaces.
COINCIDE = 0.02


def _order(name: str) -> tuple[int, int]:
    """exact first, then K ascending."""
    match = re.fullmatch(r"K(\d+)", name)
    return (1, int(match.group(1))) if match else (0, 0)


def _outer_runs(source: Path) -> dict[str, pd.DataFrame]:
    runs = {p.stem.removeprefix("outer_"): pd.read_csv(p) for p in source.glob("outer_*.csv")}
    return dict(sorted(runs.items(), key=lambda kv: _order(kv[0])))


def method_styles(names, T: int | None) -> dict[str, st.Style]:
    """The shared style of each method; K = T is marked as the exact trajectory."""
    table = st.styles(names)
    if T is not None and f"K{T}" in table:
        table[f"K{T}"] = table[f"K{T}"]._replace(label=f"{table[f'K{T}'].label} (= T, exact trajectory)")
    return table


def coincidence(runs: dict[str, pd.DataFrame], reference: str = "exact") -> tuple[float, float, bool]:
    """Largest |Δh| and |Δw_T| of any method's outer path from ``reference``'s, and whether all coincide.

    "Coincide": both gaps below ``COINCIDE`` times the reference path's extent in h and w.
    """
    ref = runs[reference]
    dh = max(float(np.max(np.abs(r.h.to_numpy() - ref.h.to_numpy()))) for r in runs.values())
    dw = max(float(np.max(np.abs(r.w.to_numpy() - ref.w.to_numpy()))) for r in runs.values())
    span_h, span_w = float(np.ptp(ref.h)), float(np.ptp(ref.w))
    return dh, dw, dh <= COINCIDE * span_h and dw <= COINCIDE * span_w


def outer_surface_title(runs: dict[str, pd.DataFrame]) -> str:
    """The surfaces' title: whether the (h, w_T) paths coincide, with the gap measured."""
    dh, dw, same = coincidence(runs)
    n = len(runs)
    if same:
        return (
            f"Outer runs (h, w_T): the paths of all {n} methods coincide (largest gap to exact reverse mode "
            f"|Δh| = {dh:.1e}, |Δw_T| = {dw:.1e}):\nthe h-hypergradient is exact for every K on this quadratic; "
            "the methods differ in the learning rate (drmad_outer_lr.png)"
        )
    return f"Outer runs (h, w_T) of {n} methods: the paths differ (largest gap |Δh| = {dh:.2g}, |Δw_T| = {dw:.2g})"


def outer_surfaces(runs: dict[str, pd.DataFrame], T: int | None):
    styles = method_styles(list(runs), T)
    paths = [
        Path2D(
            styles[name].label,
            t.h.to_numpy(),
            t.w.to_numpy(),
            color=styles[name].color,
            highlight=name == "K1",
            style={"ls": styles[name].linestyle, "marker": styles[name].marker, "ms": 3, "markevery": 8},
        )
        for name, t in runs.items()
    ]
    line = np.linspace(-1.6, 1.6, 2)
    paths.append(
        Path2D("best response w*(h) = −h", line, -line, color=st.GREY, mark_ends=False, style={"ls": ":", "lw": 1.2})
    )
    return surface_figure(paths, outer_surface_title(runs))


def _val_grid(surface: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The long table (h, lr, L_val) as grids H, A, Z for contour plots."""
    Z = surface.pivot(index="lr", columns="h", values="L_val")
    H, A = np.meshgrid(Z.columns.to_numpy(), Z.index.to_numpy())
    return H, A, Z.to_numpy()


def outer_lr_figure(runs: dict[str, pd.DataFrame], surface: pd.DataFrame | None, T: int | None):
    """(h, α) over L_val(w_T), α and L_val against the outer step: where the methods' runs differ."""
    styles = method_styles(list(runs), T)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.6), gridspec_kw={"width_ratios": [1.3, 1, 1]})
    if surface is not None:
        H, A, Z = _val_grid(surface)
        filled = axes[0].contourf(H, A, np.log10(np.maximum(Z, FLOOR)), levels=24, cmap="Greys", alpha=0.7)
        axes[0].contour(H, A, np.log10(np.maximum(Z, FLOOR)), levels=12, colors="k", linewidths=0.3, alpha=0.5)
        fig.colorbar(filled, ax=axes[0], label="log₁₀ L_val(w_T)")
    for name, t in runs.items():
        s, lw = styles[name], 2.6 if name == "K1" else 1.4
        axes[0].plot(t.h, t.lr, **s.plot_kwargs(lw=lw, ms=3, markevery=8))
        axes[0].scatter(t.h.iloc[[-1]], t.lr.iloc[[-1]], marker="*", s=90, color=s.color, edgecolors="k", zorder=6)
        axes[1].plot(t.step, t.lr, **s.plot_kwargs(lw=lw, ms=3, markevery=5))
        axes[2].semilogy(t.step, np.maximum(t.L_val, FLOOR), **s.plot_kwargs(lw=lw, ms=3, markevery=5))
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    axes[0].yaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
    axes[0].set(xlabel="hyperparameter h", ylabel="learning rate α", title="outer paths over L_val(w_T)  (* end)")
    axes[1].set(xlabel="outer step", ylabel="learning rate α", title="learning rate (descends its hypergradient)")
    axes[2].set(xlabel="outer step", ylabel="L_val(w_T)", title="validation loss")
    finals = {name: float(t.lr.iloc[-1]) for name, t in runs.items()}
    said = ", ".join(f"{styles[n].label} {finals[n]:.3g}" for n in ("K1", "exact") if n in finals)
    fig.suptitle(f"Where the methods differ: the learning rate each drives α to ({said})")
    shared_legend(fig, axes, ncol=5, top=0.95)
    return fig


def _inner_paths(inner: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    true = inner[inner.path == "true"]
    pieces = {int(k): f for k, f in inner[inner.path != "true"].groupby("K")}
    return true, dict(sorted(pieces.items()))


def _abs_err(frame: pd.DataFrame, true: pd.DataFrame) -> np.ndarray:
    """|w_t − ŵ_t|: the stage's ``abs_err`` column (older plot data: the difference of the two paths)."""
    if "abs_err" in frame:
        return frame.abs_err.to_numpy()
    return np.abs(frame.w.to_numpy() - true.w.to_numpy())


def inner_figure(inner: pd.DataFrame):
    """Small multiples per K of w_t (true) and ŵ_t (K-piece line), and |w_t − ŵ_t| per K on a log axis."""
    true, pieces = _inner_paths(inner)
    T, h0 = int(true.t.max()), float(true.h.iloc[0])
    styles = method_styles(["exact", *(f"K{k}" for k in pieces)], T)
    ncol = max(1, -(-len(pieces) // 2))
    fig = plt.figure(figsize=(4.2 * ncol + 6, 7.5))
    grid = fig.add_gridspec(2, ncol + 2)
    err_ax = fig.add_subplot(grid[:, ncol:])
    first = None
    for i, (k, frame) in enumerate(pieces.items()):
        ax = fig.add_subplot(grid[i % 2, i // 2], sharey=first)
        first = first or ax
        s = styles[f"K{k}"]
        ax.plot(true.t, true.w, color="k", lw=2.2, label="true momentum path w_t")
        marks = np.flatnonzero(frame.checkpoint.to_numpy()) if "checkpoint" in frame else None
        ax.plot(frame.t, frame.w, **s.plot_kwargs(lw=1.6, ms=5, markevery=marks))
        ax.axhline(-h0, color=st.GREY, ls=":", lw=1, label="w* = −h")
        err = _abs_err(frame, true)
        ax.set(title=f"{s.label}: max |w − ŵ| = {err.max():.2g}", xlabel="inner step t", ylabel="weight w")
        err_ax.semilogy(frame.t, np.where(err > 0, err, np.nan), **s.plot_kwargs(lw=1.4, ms=4, markevery=8))
    err_ax.set(
        xlabel="inner step t",
        ylabel="|w_t − ŵ_t|",
        title="error of the position the reverse pass reads\n(0 at the stored checkpoints: gaps)",
    )
    fig.suptitle(
        f"Inner run at h = {h0:g} (T = {T}): the true SGD-with-momentum path and each K-piece line "
        "(markers: stored checkpoints).\nh is fixed during an inner run, so on the (h, w) surfaces all "
        f"of these lie on the segment h = {h0:g}: drawn against t, they separate"
    )
    shared_legend(fig, fig.axes, ncol=5, top=0.96)
    return fig


def inner_time_figure(inner: pd.DataFrame):
    """w_t and the step α v_t = w_t − w_{t−1} the reverse pass reads, true and per K, against t."""
    true, pieces = _inner_paths(inner)
    T, h0 = int(true.t.max()), float(true.h.iloc[0])
    styles = method_styles(["exact", *(f"K{k}" for k in pieces)], T)
    fig, axes = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True)
    curves: list[tuple[pd.DataFrame, dict]] = [(true, {"color": "k", "lw": 2.4, "label": "true momentum path"})]
    curves += [(f, styles[f"K{k}"].plot_kwargs(lw=1.2, ms=3, markevery=10)) for k, f in pieces.items()]
    for frame, kw in curves:
        tt, w = frame.t.to_numpy(), frame.w.to_numpy()
        axes[0].plot(tt, w, **kw)
        axes[1].plot(tt[1:], np.diff(w), **kw)
    axes[0].axhline(-h0, color=st.GREY, ls=":", lw=1, label="w* = −h")
    axes[0].set(ylabel="weight w_t", title="position: true vs linearized")
    axes[1].set(
        xlabel="inner step t",
        ylabel="α v_t = w_t − w_{t−1}",
        title="step the reverse pass reads: dα = Σ dw·v_t and dγ use it, dh does not",
    )
    fig.suptitle(f"Inner run at h = {h0:g}, T = {T}")
    shared_legend(fig, axes, ncol=4, top=0.96)
    return fig


def _memory_panel(ax, quad: pd.DataFrame, memory: pd.DataFrame | None) -> None:
    """Measured trajectory vectors per method (``memory.csv``), the formula K + 1 / T + 1 as references."""
    T = int(quad.K.max())
    ax.loglog(quad.K, quad.K + 1, color=st.GREY, ls="--", lw=1, label="formula: K + 1 checkpoints")
    ax.axhline(T + 1, color=st.GREY, ls=":", lw=1, label=f"formula: exact stores T + 1 = {T + 1}")
    if memory is None:
        ax.set(title="memory of the reverse pass (no memory.csv: formula only)")
    else:
        pieces, exact = memory[memory.method != "exact"], memory[memory.method == "exact"]
        ax.loglog(pieces.K, pieces.measured_vectors, "o-", color=st.OKABE_ITO["vermillion"], label="K pieces, measured")
        ax.loglog(pieces.K, pieces.checkpoint_rows, "x", color="k", ms=8, label="checkpoint rows kept")
        for v in exact.measured_vectors:
            ax.axhline(v, color="k", lw=1.6, label=f"exact reverse mode, measured: {v:.0f}")
        ax.set(title="memory of the reverse pass, measured\n(XLA temporaries per parameter ÷ bytes per number)")
    ax.set(xlabel="K (pieces)", ylabel="length-d vectors kept")


def error_figure(quad: pd.DataFrame, quartic: pd.DataFrame | None, memory: pd.DataFrame | None = None):
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
    colors = {"h": st.OKABE_ITO["blue"], "log_lr": st.OKABE_ITO["orange"], "momentum": st.OKABE_ITO["bluish_green"]}
    for table, ls, name in ((quad, "-", "quadratic toy"), (quartic, "--", "quartic variant")):
        if table is None:
            continue
        for key, label in COMPONENTS:
            axes[0].loglog(
                table.K,
                np.maximum(table[f"rel_err_{key}"], FLOOR),
                ls=ls,
                marker="o",
                color=colors[key],
                label=f"{label}, {name}",
            )
    axes[0].axhline(1.0, color="0.6", lw=0.8)
    axes[0].set(
        xlabel="K (pieces; K = 1 DrMAD, K = T exact)",
        ylabel="|g_K − g| / |g|",
        title=f"hypergradient relative error (floor {FLOOR:g} = exact to rounding)",
    )
    _memory_panel(axes[1], quad, memory)
    shared_legend(fig, axes, ncol=3)
    return fig


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def render(params: FiguresParams) -> list[Path]:
    runs = _outer_runs(SOURCE)
    inner = _read(SOURCE / "inner.csv")
    T = int(inner.t.max()) if inner is not None else None
    figures = []
    if runs:
        figures += [
            ("drmad_outer.png", outer_surfaces(runs, T)),
            ("drmad_outer_lr.png", outer_lr_figure(runs, _read(SOURCE / "val_surface.csv"), T)),
        ]
    if inner is not None:
        figures += [("drmad_inner.png", inner_figure(inner)), ("drmad_inner_time.png", inner_time_figure(inner))]
    quad = _read(SOURCE / "error_quadratic.csv")
    if quad is not None:
        figures.append(
            ("drmad_error.png", error_figure(quad, _read(SOURCE / "error_quartic.csv"), _read(SOURCE / "memory.csv")))
        )
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
