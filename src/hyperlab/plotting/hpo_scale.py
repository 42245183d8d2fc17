"""Figures of the ``hpo_scale`` stage (hypergradients against search as the dimension of h grows).

* ``hpo_scale_vs_dim.png``: at equal compute (the headline view), best validation cross-entropy
  (left; median over seeds, bars from the first to the third quartile) and the test error of the
  h it chose (right, in percent; bars ±1 binomial standard error sqrt(p(1 − p)/n) of a test set of n digits: differences
  inside them are below what the test set resolves) per hyperparameter family. The families
  are different kinds of h, placed at their dimension d: markers, not lines, so no trend in d
  is suggested. The crossover the stage's report states is drawn, never recomputed; a method
  that did not run at a family is marked "not run" (the summary's ``why_not``); a method far
  above the others is drawn as an arrow at the top edge and named with its value.
* ``hpo_scale_hypergrad_error.png``: each hypergradient's relative error against exact
  reverse mode in float64, per family, at h0 (left) and at one uniform draw from the box
  (right; a different draw per family). The reference is **invalid** at a (family, point)
  where float64 reverse mode disagrees with central differences, or float32 exact reverse
  mode with float64, by more than ``REFERENCE_TOL`` relative error (a chaotic inner
  problem): no method's error is drawn there, a hatched "reference invalid" mark is. A
  relative error that is NaN is drawn as an explicit "NaN" marker at the top edge.
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

SOURCE = Path("plots/hpo_scale")
FIGURES = Path("plots/figures/hpo_scale")
#: the data stage's split sizes (the test set's n sets the resolution of a test error)
#: relative error above which the float64 reference (or float32 exact against it) is not trusted
REFERENCE_TOL = 1e-2
#: half the width over which one family's methods are spread along x, so they do not hide each other
SPREAD = 0.36


def dodge(n: int) -> np.ndarray:
    """Additive x offsets of ``n`` methods around their family's position."""
    return np.linspace(-SPREAD, SPREAD, n) if n > 1 else np.zeros(n)


def family_positions(frame: pd.DataFrame) -> pd.Series:
    """family -> x position: the families in order of d, one unit apart (different kinds of h, not a d axis)."""
    dims = frame.drop_duplicates("family").sort_values("dim")
    return pd.Series(np.arange(len(dims), dtype=float), index=dims["family"].to_numpy())


def crossover_x(frame: pd.DataFrame, crossover: float | None) -> float | None:
    """Where the report's crossover d falls: just before the first family with d >= it (None: no crossover)."""
    if crossover is None:
        return None
    pos = family_positions(frame)
    dims = frame.drop_duplicates("family").set_index("family")["dim"].reindex(pos.index)
    at = pos[dims.to_numpy() >= crossover]
    return float(at.iloc[0]) - 0.5 if len(at) else float(pos.iloc[-1]) + 0.5


def readable_limit(values: pd.Series) -> float:
    """Upper y limit that keeps the informative range: Q3 + 4 IQR of ``values`` (Tukey's far-out fence, widened).

    Values above it are off-scale outliers (drawn at the edge and named), so that one method
    far above the rest does not squeeze every other into a sliver of the axis.
    """
    q1, q3 = (float(np.nanpercentile(values, q)) for q in (25, 75))
    return q3 + 4.0 * max(q3 - q1, 1e-3 * max(abs(q3), 1e-12))


def _family_axis(ax, frame: pd.DataFrame) -> None:
    """One tick per family, named by kind and dimension."""
    dims = frame.drop_duplicates("family").sort_values("dim")
    pos = family_positions(frame)
    ax.set_xticks(pos.to_numpy(), [f"{f}\nd = {d:,}" for f, d in zip(dims["family"], dims["dim"])])
    ax.set_xlim(-0.6, len(pos) - 0.4)
    ax.grid(alpha=0.3, axis="y")


def _crossover(ax, x: float | None, crossover: float | None, rule: str) -> None:
    """A crossover of the report: a vertical line and the shaded side where hypergradients win."""
    if x is None or crossover is None:
        return
    ax.axvline(
        x,
        color="k",
        lw=1,
        ls="--" if "median" in rule else ":",
        zorder=0,
        label=f"crossover, {rule}: hypergradients win from d = {crossover:,.0f} on",
    )
    ax.axvspan(x, ax.get_xlim()[1], color=st.GREY, alpha=0.08, lw=0, zorder=0)


def edge_mark(ax, x: float, y: float, s: st.Style, text: str, **marker) -> None:
    """``s``'s marker at height ``y`` in axes units (0 bottom, 1 top spine) with ``text`` beside it, unclipped:
    how a value the axis does not show (off scale, NaN, not run) is drawn instead of being dropped."""
    kw = s.plot_kwargs(ls="none", label=None, ms=7, **marker)
    ax.plot(x, y, transform=ax.get_xaxis_transform(), clip_on=False, **kw)
    up = y >= 0.5
    ax.annotate(
        text,
        (x, y),
        xycoords=ax.get_xaxis_transform(),
        xytext=(0, 6 if up else 7),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=6,
        color=s.color,
        rotation=0 if up else 90,
    )


def _not_run(ax, summary: pd.DataFrame, pos: dict, off: dict, styles: dict) -> list[str]:
    """Mark each not-run (method, family) with a cross at the bottom edge; one note line per reason."""
    notes = []
    for _, r in summary[~summary["ran"].astype(bool)].iterrows():
        s = styles[r["method"]]
        edge_mark(ax, pos[r["family"]] + off[r["method"]], 0.03, s, "not run", marker="x", mew=2)
        notes.append(f"{s.label} not run at {r['family']}: {str(r['why_not']).split(':')[0]}")
    return notes


def _panel(ax, ran: pd.DataFrame, col: str, scale: float, yerr_of, place: tuple[dict, dict], styles: dict) -> list[str]:
    """Markers with bars per method; off-scale medians as the method's marker on the top spine. The off-scale notes."""
    values = ran[col] * scale
    top = readable_limit(values)
    shown = ran[values <= top]
    err = yerr_of(shown)
    below = 0.0 if err is None else np.atleast_2d(err)[0]
    bottom = float(np.min(shown[col].to_numpy(float) * scale - below))
    notes = []
    for m, g in ran.groupby("method", sort=False):
        x = g["family"].map(place[0]).to_numpy(float) + place[1][m]
        y = (g[col] * scale).to_numpy(float)
        inside = y <= top
        ax.errorbar(x[inside], y[inside], yerr=yerr_of(g[inside]), capsize=2, ms=5, **styles[m].plot_kwargs(ls="none"))
        for xi, yi in zip(x[~inside], y[~inside]):
            edge_mark(ax, xi, 1.0, styles[m], f"↑ {yi:.3g}")
        if (~inside).any():
            notes.append(f"{styles[m].label}: off scale at {', '.join(g['family'][~inside])} (↑ its value, top edge)")
    pad = 0.08 * (top - bottom)
    ax.set_ylim(bottom - pad, top + 2 * pad)
    return notes


def vs_dim_figure(
    summary: pd.DataFrame, crossover: float | None, n_test: int | None, test_crossover: float | None = None
):
    """Validation objective and test error per family (see the module docstring).

    Each panel marks its own crossover from the report: the objective's by the median rule
    (``crossover``), test error's by the paired rule (``test_crossover``); they may differ.
    """
    methods = list(dict.fromkeys(summary["method"]))
    styles = st.styles(methods)
    pos, off = family_positions(summary).to_dict(), dict(zip(methods, dodge(len(methods))))
    ran = summary[summary["ran"].astype(bool)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))

    def quartiles(g):
        return np.vstack([g["val_loss"] - g["val_loss_q1"], g["val_loss_q3"] - g["val_loss"]])

    def resolution(g):
        p = g["test_error"].to_numpy(float)
        return None if not n_test else 100 * np.sqrt(p * (1 - p) / n_test)

    notes = _panel(axes[0], ran, "val_loss", 1.0, quartiles, (pos, off), styles)
    notes += _panel(axes[1], ran, "test_error", 100.0, resolution, (pos, off), styles)
    rules = ("objective, median rule", "test error, paired rule (ahead on every seed)")
    for ax, dim, rule in zip(axes, (crossover, test_crossover), rules):
        _family_axis(ax, summary)
        _crossover(ax, crossover_x(summary, dim), dim, rule)
        notes += _not_run(ax, summary, pos, off, styles)
    axes[0].set_ylabel("best validation cross-entropy (the objective)")
    axes[0].set_title("median over seeds; bars: first to third quartile", fontsize=9, pad=16)
    axes[1].set_ylabel("test error of the chosen h (%)")
    res = (
        f"bars: ±1 binomial s.e. for n = {n_test:,} test digits (the test set's resolution)"
        if n_test
        else ("test-set size unknown: no resolution bars")
    )
    axes[1].set_title(f"median over seeds; {res}", fontsize=9, pad=16)
    fig.suptitle("Hypergradients vs search per hyperparameter family at equal compute (x: the family, by its d)")
    fig.text(0.01, -0.01, "\n".join(dict.fromkeys(notes)), fontsize=7, va="top")
    entries = {}  # label -> handle, both panels (each has its own crossover line)
    for ax in axes:
        entries.update(dict(zip(*reversed(ax.get_legend_handles_labels()))))
    fig.legend(
        entries.values(), entries.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False
    )
    fig.tight_layout()
    return fig


def reference_valid(acc: pd.DataFrame) -> pd.Series:
    """(family, point) -> whether the float64 reference is trusted there (see ``REFERENCE_TOL``).

    Valid when central differences agree with float64 reverse mode and float32 exact reverse
    mode agrees with it within ``REFERENCE_TOL``; a check that is missing or NaN counts as
    failed, so a (family, point) is never called valid without its evidence.
    """
    checks = acc[acc["method"].isin(["central_differences", "exact"])]
    ok = checks.assign(ok=checks["rel_err"].astype(float) <= REFERENCE_TOL)
    per = ok.groupby(["family", "point"])["ok"].agg(lambda s: bool(s.all()) and len(s) == 2)
    keys = acc[["family", "point"]].drop_duplicates()
    return pd.Series(
        [bool(per.get((f, p), False)) for f, p in keys.itertuples(index=False)], index=pd.MultiIndex.from_frame(keys)
    )


def _invalid_mark(ax, x: float, checks: pd.DataFrame) -> None:
    """A hatched column at ``x`` with the reference checks' own errors, where no method is drawn."""
    ax.axvspan(
        x - 0.45,
        x + 0.45,
        facecolor="none",
        edgecolor=st.GREY,
        hatch="///",
        lw=0,
        zorder=0,
        label="reference invalid (no error drawn)",
    )
    errs = dict(zip(checks["method"], checks["rel_err"].astype(float)))
    text = "reference invalid\ncentral diff. vs f64: {:.0%}\nf32 exact vs f64: {:.0%}".format(
        errs.get("central_differences", np.nan), errs.get("exact", np.nan)
    )
    ax.text(
        x,
        0.5,
        text,
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="center",
        fontsize=6,
        color="0.2",
        bbox=dict(fc="white", ec=st.GREY, lw=0.5),
    )


def _error_panel(ax, acc: pd.DataFrame, valid: pd.Series, styles: dict, place: tuple[dict, dict]) -> None:
    """One point's relative errors per family; invalid references hatched, NaNs marked at the top."""
    pos, off = place
    for (fam, p), checks in acc.groupby(["family", "point"], sort=False):
        if not valid[(fam, p)]:
            _invalid_mark(ax, pos[fam], checks[checks["method"].isin(["central_differences", "exact"])])
    shown = acc[acc["method"] != "central_differences"]
    for m, g in shown.groupby("method", sort=False):
        g = g[[bool(valid[(f, p)]) for f, p in zip(g["family"], g["point"])]]
        x = g["family"].map(pos).to_numpy(float) + off[m]
        y = g["rel_err"].to_numpy(float)
        finite = np.isfinite(y)
        ax.plot(x[finite], np.maximum(y[finite], 1e-12), ms=6, **styles[m].plot_kwargs(ls="none"))
        for xi in x[~finite]:
            edge_mark(ax, xi, 1.0, styles[m], "NaN", marker="X")


def error_figure(acc: pd.DataFrame):
    """Relative hypergradient error per family at h0 and at a uniform draw (see the module docstring)."""
    valid = reference_valid(acc)
    methods = list(dict.fromkeys(acc.loc[acc["method"] != "central_differences", "method"]))
    styles = st.styles(methods)
    place = (family_positions(acc).to_dict(), dict(zip(methods, dodge(len(methods)))))
    points = sorted(acc["point"].unique())
    fig, axes = plt.subplots(1, len(points), figsize=(6.5 * len(points), 4.8), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], points):
        ax.set_yscale("log")
        _error_panel(ax, acc[acc["point"] == p], valid, styles, place)
        ax.axhline(1.0, color="k", lw=0.8, ls=":", label="relative error 1 (as far off as a zero gradient)")
        ax.axhline(REFERENCE_TOL, color=st.GREY, lw=0.8, ls="--", label=f"validity tolerance {REFERENCE_TOL:g}")
        _family_axis(ax, acc)
        ax.set_title(
            "at h0 (the start)" if p == 0 else f"at uniform draw {p} from the box (a different draw per family)",
            fontsize=9,
            pad=16,
        )
    axes[0][0].set_ylabel("|g − g*| / |g*|  (g*: exact reverse mode, float64)")
    fig.suptitle("Hypergradient error per family (IFT: L2 coordinates only; exact: float32)")
    fig.text(
        0.01,
        -0.01,
        f"Reference invalid where central differences vs float64 reverse mode, or float32 exact vs "
        f"float64, differ by more than relative error {REFERENCE_TOL:g}: no method's error is drawn there.",
        fontsize=7,
        va="top",
    )
    handles: dict = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(
        list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False
    )
    fig.tight_layout()
    return fig


def _report() -> dict:
    path = SOURCE / "report.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def n_test_digits(report: dict) -> int | None:
    """The test split's n, as the stage report records it (None: no resolution bars)."""
    n = report.get("n_test")
    return int(n) if n else None


def render(params: FiguresParams) -> list[Path]:
    summary_path = SOURCE / "summary.csv"
    if not summary_path.is_file():
        return []
    report = _report()
    view = (report.get("views") or {}).get(report.get("headline_view", ""), {})
    crossover = (view.get("crossover") or {}).get("dim")
    test_crossover = (((view.get("paired") or {}).get("crossover") or {}).get("test_error") or {}).get("dim")
    summary = pd.read_csv(summary_path)
    figures = [("hpo_scale_vs_dim.png", vs_dim_figure(summary, crossover, n_test_digits(report), test_crossover))]
    acc_path = SOURCE / "hypergrad_accuracy.csv"
    if acc_path.is_file():
        figures.append(("hpo_scale_hypergrad_error.png", error_figure(pd.read_csv(acc_path))))
    return save_all(((FIGURES / name, fig) for name, fig in figures), params.dpi)
