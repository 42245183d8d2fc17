"""The two surface plots of the toy bilevel problem, (h, w, L_train) and (h, w, L_val).

Shared by the bilevel, DrMAD and hypernetwork figures: each passes its paths
(curves in the (h, w) plane) and gets the same 3-D surfaces and contour views.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np


def surface_grid(h_range: tuple[float, float], w_range: tuple[float, float], n: int = 81):
    """Grids ``H, W`` and both losses of ``hyperlab.bilevel.toy`` on them (d = 1), for surface and contour plots.

    In NumPy, not through the toy's JAX functions: a figure stage that imports no
    JAX starts in a fraction of the time (``-S order=4`` redraws within seconds).
    """
    hs = np.linspace(*h_range, n)
    ws = np.linspace(*w_range, n)
    H, W = np.meshgrid(hs, ws)
    return H, W, (H + W) ** 2, W**2


@dataclass
class Path2D:
    """A curve in the (h, w) plane, drawn on both surfaces at its loss values."""

    label: str
    h: np.ndarray
    w: np.ndarray
    color: str | tuple | None = None  # a name or an RGBA tuple (a colormap entry)
    highlight: bool = False
    mark_ends: bool = True
    style: dict = field(default_factory=dict)


def _limits(paths: list[Path2D], pad: float = 0.25) -> tuple[tuple[float, float], tuple[float, float]]:
    hs = np.concatenate([p.h for p in paths] + [np.array([-1.0, 1.0])])
    ws = np.concatenate([p.w for p in paths] + [np.array([-1.0, 1.0])])

    def around(v):
        lo, hi = float(np.min(v)), float(np.max(v))
        span = max(hi - lo, 1e-3)
        return lo - pad * span, hi + pad * span

    return around(hs), around(ws)


def _draw(ax3d, axc, H, W, Z, paths: list[Path2D], loss, title: str) -> None:
    ax3d.plot_surface(H, W, Z, cmap="viridis", alpha=0.55, linewidth=0, antialiased=True)
    axc.contourf(H, W, Z, levels=30, cmap="viridis", alpha=0.8)
    axc.contour(H, W, Z, levels=12, colors="k", linewidths=0.3, alpha=0.5)
    for p in paths:
        z = loss(p.h, p.w)
        kw = dict(lw=3.0 if p.highlight else 1.4, color=p.color, zorder=5 if p.highlight else 3)
        kw.update(p.style)
        (line,) = ax3d.plot(p.h, p.w, z, label=p.label, **kw)
        axc.plot(p.h, p.w, **{**kw, "color": line.get_color()})
        if p.mark_ends and len(p.h):
            for ax, args in ((ax3d, (p.h[[0]], p.w[[0]], z[[0]])), (axc, (p.h[[0]], p.w[[0]]))):
                ax.scatter(*args, marker="o", s=25, color=line.get_color(), edgecolors="k", zorder=6)
            for ax, args in ((ax3d, (p.h[[-1]], p.w[[-1]], z[[-1]])), (axc, (p.h[[-1]], p.w[[-1]]))):
                ax.scatter(*args, marker="*", s=90, color=line.get_color(), edgecolors="k", zorder=6)
    ax3d.set(xlabel="h", ylabel="w", title=title)
    axc.set(xlabel="h", ylabel="w", title=f"{title} (contours; o start, * end)")


def surface_figure(paths: list[Path2D], suptitle: str, h_range=None, w_range=None):
    """A 2x2 figure: L_train and L_val as 3-D surfaces (top) and contour maps (bottom)."""
    auto_h, auto_w = _limits(paths)
    H, W, Ltr, Lval = surface_grid(h_range or auto_h, w_range or auto_w)
    fig = plt.figure(figsize=(13, 11))
    axes = [
        fig.add_subplot(2, 2, 1, projection="3d"),
        fig.add_subplot(2, 2, 2, projection="3d"),
        fig.add_subplot(2, 2, 3),
        fig.add_subplot(2, 2, 4),
    ]
    _draw(axes[0], axes[2], H, W, Ltr, paths, lambda h, w: (h + w) ** 2, "L_train = |h + w|²")
    _draw(axes[1], axes[3], H, W, Lval, paths, lambda h, w: w**2, "L_val = |w|²")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig
