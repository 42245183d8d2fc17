"""The two surface plots of the toy bilevel problem, (h, w, L_train) and (h, w, L_val).

Shared by the bilevel, DrMAD and hypernetwork figures: each passes its paths
(curves in the (h, w) plane) and gets the same 3-D surfaces and contour views.
The surfaces are shaded in grey, so the paths keep the colours the style module
(``hyperlab.plotting.style``) gives their methods; a viridis surface would hide the
viridis-coloured hypergradient orders. ``shared_legend`` gives a figure its one legend,
below the panels.
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


#: The surface and contour colormap: light (low loss) to mid grey, under any path colour.
SURFACE_CMAP = "Greys"


def _draw(ax3d, axc, grid: tuple, paths: list[Path2D], loss, title: str, zlabel: str, cmap: str) -> None:
    """One loss (``grid`` = H, W, Z) as a surface on ``ax3d`` and a contour map on ``axc``, with every path."""
    H, W, Z = grid
    ax3d.plot_surface(H, W, Z, cmap=cmap, alpha=0.45, linewidth=0, antialiased=True, vmax=1.6 * float(Z.max()))
    axc.contourf(H, W, Z, levels=30, cmap=cmap, alpha=0.6, vmax=1.6 * float(Z.max()))
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
    ax3d.set(xlabel="hyperparameter h", ylabel="weight w", zlabel=zlabel, title=title)
    axc.set(xlabel="hyperparameter h", ylabel="weight w", title=f"{title} (contours; o start, * end)")


def surface_figure(paths: list[Path2D], suptitle: str, h_range=None, w_range=None, cmap: str = SURFACE_CMAP):
    """A 2x2 figure: L_train and L_val as 3-D surfaces (top) and contour maps (bottom).

    One legend for the figure, below the panels (off the data); the z axes are labelled
    L_train and L_val. ``cmap`` shades the surfaces (default: grey, under coloured paths).
    """
    auto_h, auto_w = _limits(paths)
    H, W, Ltr, Lval = surface_grid(h_range or auto_h, w_range or auto_w)
    fig = plt.figure(figsize=(13, 11))
    axes = [
        fig.add_subplot(2, 2, 1, projection="3d"),
        fig.add_subplot(2, 2, 2, projection="3d"),
        fig.add_subplot(2, 2, 3),
        fig.add_subplot(2, 2, 4),
    ]
    _draw(axes[0], axes[2], (H, W, Ltr), paths, lambda h, w: (h + w) ** 2, "L_train = |h + w|²", "L_train", cmap)
    _draw(axes[1], axes[3], (H, W, Lval), paths, lambda h, w: w**2, "L_val = |w|²", "L_val", cmap)
    fig.suptitle(suptitle)
    shared_legend(fig, axes[:1], ncol=4, top=0.97)
    return fig


def shared_legend(fig, axes, ncol: int = 4, top: float = 1.0, fontsize: float | None = None):
    """One legend for the whole figure, below every panel (off the data), then ``tight_layout`` above it.

    Entries are the labelled artists of ``axes`` in drawing order, one per label (a method drawn
    in several panels is listed once). Used by ``surface_figure`` and by the other bilevel,
    hypernetwork and learning-to-learn figures, so each has exactly one legend and it hides no
    data. Returns the legend (``None`` when nothing is labelled).
    """
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if not entries:
        fig.tight_layout(rect=(0, 0, 1, top))
        return None
    # At most as many columns as fit the figure's width (about 0.075 inch a character at 10 pt,
    # plus the handle), so a legend of long labels wraps instead of widening the saved figure.
    scale = (fontsize or 10.0) / 10.0
    column = 0.8 + 0.075 * scale * max(len(label) for label in entries)
    ncol = max(1, min(ncol, len(entries), int(fig.get_figwidth() // column)))
    legend = fig.legend(
        list(entries.values()), list(entries), loc="lower center", ncol=ncol, frameon=False, fontsize=fontsize
    )
    rows = -(-len(entries) // ncol)
    # About 0.28 inch per legend row, as a fraction of the figure height.
    bottom = min(0.45, (0.12 + 0.28 * rows) / fig.get_figheight())
    fig.tight_layout(rect=(0, bottom, 1, top))
    return legend
