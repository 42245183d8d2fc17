"""Figures of the ``drmad`` stage (DrMAD and K-piece trajectory linearization).

* ``drmad_outer.png``: each method's outer trajectory (h, w_T) on the surfaces
  (h, w, L_train) and (h, w, L_val).
* ``drmad_outer_curves.png``: L_val, h and the learning rate against the outer step.
* ``drmad_inner.png``: at the first outer step, the true inner trajectory against its
  straight-line (DrMAD) and piecewise-linear approximations, on the same surfaces.
  With d = 1 the inner run keeps h fixed, so every path lies on the line h = h0:
  dots mark the iterates (their spacing is the velocity the reverse pass reads).
* ``drmad_inner_time.png``: the same paths as w_t and v_t = (w_t − w_{t−1}) / α against t.
* ``drmad_error.png``: hypergradient relative error and stored vectors against K.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.plotting import save_all
from hyperlab.plotting.surfaces import Path2D, surface_figure

SOURCE = Path("plots/drmad")
FIGURES = Path("plots/figures/drmad")
# Relative errors of exactly 0 (or rounding, ~1e-16) are drawn at this floor on log axes.
FLOOR = 1e-17
COMPONENTS = (("h", "h"), ("log_lr", "log α (learning rate)"), ("momentum", "γ (momentum)"))


def _outer_runs(source: Path) -> dict[str, pd.DataFrame]:
    runs = {}
    for path in source.glob("outer_*.csv"):
        name = path.stem.removeprefix("outer_")
        runs[name] = pd.read_csv(path)

    def order(name):  # exact first, then K ascending
        match = re.fullmatch(r"K(\d+)", name)
        return (1, int(match.group(1))) if match else (0, 0)

    return dict(sorted(runs.items(), key=lambda kv: order(kv[0])))


def _k_colors(ks: list[int]) -> dict[int, tuple]:
    cmap = plt.get_cmap("plasma")
    span = max(len(ks) - 1, 1)
    return {k: cmap(0.85 * i / span) for i, k in enumerate(sorted(ks))}


def _method_style(name: str, colors: dict[int, tuple], T: int | None) -> tuple[str, dict]:
    if name == "exact":
        return "exact reverse mode (jax.grad)", dict(color="k", ls="--", lw=2.0)
    K = int(name[1:])
    label = "K=1 (DrMAD)" if K == 1 else (f"K={K}=T (exact trajectory)" if K == T else f"K={K}")
    return label, dict(color=colors[K], lw=2.6 if K == 1 else 1.3, ls=":" if K == T else "-")


def outer_figures(runs: dict[str, pd.DataFrame], T: int | None):
    ks = [int(n[1:]) for n in runs if n != "exact"]
    colors = _k_colors(ks)
    paths = []
    for name, t in runs.items():
        label, style = _method_style(name, colors, T)
        color = style.pop("color")
        paths.append(
            Path2D(label, t["h"].to_numpy(), t["w"].to_numpy(), color=color, highlight=name == "K1", style=style)
        )
    line = np.linspace(-1.6, 1.6, 2)
    paths.append(
        Path2D("best response w*(h) = -h", line, -line, color="0.85", mark_ends=False, style={"ls": ":", "lw": 1.2})
    )
    surf = surface_figure(
        paths,
        "DrMAD / K-piece linearization: outer trajectories (h, w_T) "
        "with h (and log lr) updated by each method's hypergradient",
    )

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for name, t in runs.items():
        label, style = _method_style(name, colors, T)
        axes[0].semilogy(t.step, np.maximum(t.L_val, FLOOR), label=label, **style)
        axes[1].plot(t.step, t.h, label=label, **style)
        axes[2].plot(t.step, t.lr, label=label, **style)
    axes[0].set(xlabel="outer step", ylabel="L_val(w_T)", title="validation loss")
    axes[1].set(xlabel="outer step", ylabel="h", title="hyperparameter h")
    axes[2].set(xlabel="outer step", ylabel="α", title="inner learning rate (descends its hypergradient)")
    axes[2].legend(fontsize=8)
    fig.suptitle("Outer runs: the h-gradient is exact for every K, so the paths differ only through α")
    fig.tight_layout()
    return surf, fig


def _path_styles(inner: pd.DataFrame) -> list[tuple[str, pd.DataFrame, dict, str]]:
    ks = sorted(int(k) for k in inner.loc[inner.path != "true", "K"].unique())
    colors = _k_colors(ks)
    out = [("true", inner[inner.path == "true"], dict(color="k", lw=2.4), "true trajectory (K = T)")]
    for k in ks:
        label = f"K={k}" + (" (DrMAD straight line)" if k == 1 else "")
        out.append((f"K={k}", inner[(inner.K == k) & (inner.path != "true")], dict(color=colors[k], lw=1.2), label))
    return out


def inner_figures(inner: pd.DataFrame):
    true = inner[inner.path == "true"]
    T = int(true.t.max())
    paths = []
    for name, t, style, label in _path_styles(inner):
        st = {k: v for k, v in style.items() if k != "color"}
        paths.append(
            Path2D(
                label,
                t.h.to_numpy(),
                t.w.to_numpy(),
                color=style["color"],
                highlight=name == "true",
                style={**st, "marker": "o", "ms": 3.0 if name == "true" else 2.0, "alpha": 0.85},
            )
        )
    h0 = float(true.h.iloc[0])
    surf = surface_figure(
        paths,
        f"One outer step (h = {h0:g}): the inner SGD-with-momentum trajectory "
        f"(T = {T}) and its K-piece linearizations; all lie on the line h = {h0:g}",
    )

    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    for _, t, style, label in _path_styles(inner):
        tt, w = t.t.to_numpy(), t.w.to_numpy()
        axes[0].plot(tt, w, label=label, **style)
        axes[1].plot(tt[1:], np.diff(w), label=label, **style)
    axes[0].axhline(-h0, color="0.5", ls=":", lw=1)
    axes[0].set(ylabel="w_t", title="position: true vs linearized (dotted: w* = -h)")
    axes[1].set(
        xlabel="inner step t",
        ylabel="α v_t = w_t − w_{t−1}",
        title="step the reverse pass reads: dα = Σ dw·v_t and dγ use it, dh does not",
    )
    axes[0].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return surf, fig


def error_figure(quad: pd.DataFrame, quartic: pd.DataFrame | None):
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    colors = {"h": "C0", "log_lr": "C1", "momentum": "C2"}
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
    axes[0].legend(fontsize=8)
    T = int(quad.K.max())
    axes[1].loglog(quad.K, quad.memory_vectors, marker="o", label="K-piece reverse pass: K + 1")
    axes[1].axhline(T + 1, color="k", ls="--", label=f"exact reverse mode: T + 1 = {T + 1}")
    axes[1].axhline(2, color="C3", ls=":", label="DrMAD: 2 (w_0, w_T)")
    axes[1].set(xlabel="K", ylabel="trajectory vectors stored", title="memory of the reverse pass")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(params) -> list[Path]:
    runs = _outer_runs(SOURCE)
    inner_path = SOURCE / "inner.csv"
    T = int(pd.read_csv(inner_path).t.max()) if inner_path.is_file() else None
    figures = []
    if runs:
        surf, curves = outer_figures(runs, T)
        figures += [("drmad_outer.png", surf), ("drmad_outer_curves.png", curves)]
    if inner_path.is_file():
        surf, time_fig = inner_figures(pd.read_csv(inner_path))
        figures += [("drmad_inner.png", surf), ("drmad_inner_time.png", time_fig)]
    quad_path, quartic_path = SOURCE / "error_quadratic.csv", SOURCE / "error_quartic.csv"
    if quad_path.is_file():
        quartic = pd.read_csv(quartic_path) if quartic_path.is_file() else None
        figures.append(("drmad_error.png", error_figure(pd.read_csv(quad_path), quartic)))
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
