"""The hpo, hpo_scale, search, sampler_bench and candidates figures on small hand-built plot data.

What is checked is what a reader relies on: an invalid reference and a NaN error are marked,
never drawn as numbers or dropped; a method that did not run says so; the crossover is drawn
where the report puts it; an outlier is named instead of squeezing the axis; the hypervolume
is drawn as its gap to the true front; every method is drawn in its style-module look under its
human name, with one legend per figure and no legend on the axes.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from hyperlab.plotting import style

FAMILIES = (("layer", 3), ("knots", 18), ("weight", 12705))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def _one_legend(fig) -> None:
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)


def _drawn_in_style(ax, names) -> None:
    """Every method's line has its style-module colour and human label."""
    lines = {line.get_label(): line for line in ax.lines}
    for name in names:
        s = style.style(name)
        assert s.label in lines, (name, sorted(lines))
        assert lines[s.label].get_color() == s.color


# --------------------------------------------------------------------------- hpo_scale


def _accuracy(rel_err_of) -> pd.DataFrame:
    rows = []
    for fam, d in FAMILIES:
        for p in (0, 1):
            for m in ("central_differences", "exact", "kpiece4", "drmad", "online5", "ift"):
                rows.append({"family": fam, "dim": d, "point": p, "method": m, "rel_err": rel_err_of(fam, p, m)})
    return pd.DataFrame(rows)


def _good(fam, p, m):
    return {"central_differences": 1e-9, "exact": 1e-7}.get(m, 0.1)


def test_reference_validity_follows_the_stated_rule():
    from hyperlab.plotting.hpo_scale import REFERENCE_TOL, reference_valid

    def rel(fam, p, m):
        if (fam, p) == ("knots", 1) and m == "exact":
            return 1.26  # float32 exact far from the float64 reference: chaotic
        if (fam, p) == ("weight", 0) and m == "central_differences":
            return np.nan  # the check is missing: not evidence of validity
        if (fam, p) == ("layer", 1) and m == "central_differences":
            return REFERENCE_TOL  # at the tolerance: still valid
        return _good(fam, p, m)

    valid = reference_valid(_accuracy(rel))
    assert not valid[("knots", 1)] and not valid[("weight", 0)]
    assert valid[("layer", 1)] and valid[("layer", 0)] and valid[("knots", 0)] and valid[("weight", 1)]


def test_invalid_reference_and_nan_error_are_marked_not_drawn_as_numbers():
    from hyperlab.plotting.hpo_scale import error_figure, family_positions

    def rel(fam, p, m):
        if (fam, p) == ("knots", 1) and m in ("central_differences", "exact"):
            return 1.0  # the reference is invalid here
        if (fam, p, m) == ("weight", 0, "drmad"):
            return np.nan
        return _good(fam, p, m)

    acc = _accuracy(rel)
    fig = error_figure(acc)
    texts = _texts(fig)
    assert sum(t == "NaN" for t in texts) == 1
    assert sum(t.startswith("reference invalid") for t in texts) == 1
    # right panel (point 1): no method marker at the knots position, whose reference is invalid
    knots = family_positions(acc)["knots"]
    right = fig.axes[1]
    methods = {style.label(m) for m in ("exact", "kpiece4", "drmad", "online5", "ift")}

    def method_xs(ax):
        return np.concatenate([np.asarray(ln.get_xdata(), float) for ln in ax.lines if ln.get_label() in methods])

    assert len(method_xs(right)) and not np.any(np.abs(method_xs(right) - knots) < 0.45)
    assert np.any(np.abs(method_xs(fig.axes[0]) - knots) < 0.45)  # left panel: knots' reference is valid
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("relative error 1" in lab for lab in labels)  # the y = 1 reference line is named
    _one_legend(fig)


def _summary() -> pd.DataFrame:
    rows = []
    for fam, d in FAMILIES:
        for m, side, val in (("exact", "hypergradient", 0.45), ("drmad", "hypergradient", 0.46),
                             ("ift", "hypergradient", 0.85), ("gp_ei", "search", 0.48), ("tpe", "search", 0.50),
                             ("random", "search", 0.49)):  # fmt: skip
            ran = not (fam == "weight" and m in ("gp_ei", "tpe"))
            num = dict(val_loss=val, val_loss_q1=val - 0.01, val_loss_q3=val + 0.01, test_error=0.13,
                       test_error_q1=0.12, test_error_q3=0.14, initial_val_loss=0.86)  # fmt: skip
            rows.append({"family": fam, "dim": d, "method": m, "side": side, "ran": ran,
                         "why_not": "" if ran else "d = 12705 > optuna_max_dim = 1000: bookkeeping grows as d^2",
                         **(num if ran else {k: np.nan for k in num})})  # fmt: skip
    return pd.DataFrame(rows)


def test_vs_dim_marks_not_run_crossover_and_outlier():
    from hyperlab.plotting.hpo_scale import crossover_x, vs_dim_figure

    summary = _summary()
    fig = vs_dim_figure(summary, crossover=18, n_test=1000)
    left = fig.axes[0]
    assert sum(t.get_text() == "not run" for t in left.texts) == 2  # GP-EI and TPE at weight
    assert any("not run at weight" in t for t in _texts(fig))
    # the crossover line sits just before knots (d = 18), the first family where hypergradients win
    x = crossover_x(summary, 18)
    assert x == 0.5
    cross = [line for line in left.lines if line.get_label().startswith("crossover")]
    assert len(cross) == 1 and np.allclose(cross[0].get_xdata(), x)
    # IFT (0.85) is off the informative range: named with its value at the top edge, not inside the axis
    assert left.get_ylim()[1] < 0.85
    assert sum(t.get_text() == "↑ 0.85" for t in left.texts) == len(FAMILIES)
    _one_legend(fig)


def test_test_error_bars_are_the_binomial_resolution():
    from hyperlab.plotting.hpo_scale import vs_dim_figure

    fig = vs_dim_figure(_summary(), crossover=None, n_test=1000)
    right = fig.axes[1]
    # one error bar per drawn (method, family): half-length 100 * sqrt(p (1 - p) / n) percent points
    segments = [seg for c in right.collections for seg in getattr(c, "get_segments", lambda: [])()]
    half = {round(abs(s[1][1] - s[0][1]) / 2, 6) for s in segments if len(s) == 2 and s[0][0] == s[1][0]}
    assert half == {round(100 * math.sqrt(0.13 * 0.87 / 1000), 6)}
    assert "%" in right.get_ylabel()
    assert not any(line.get_label().startswith("crossover") for line in right.lines)  # none in the report


def test_each_panel_marks_its_own_crossover():
    from hyperlab.plotting.hpo_scale import crossover_x, vs_dim_figure

    summary = _summary()
    fig = vs_dim_figure(summary, crossover=18, n_test=1000, test_crossover=162)
    for ax, dim in zip(fig.axes[:2], (18, 162)):
        (line,) = [ln for ln in ax.lines if ln.get_label().startswith("crossover")]
        assert np.allclose(line.get_xdata(), crossover_x(summary, dim)) and f"d = {dim}" in line.get_label()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum(label.startswith("crossover") for label in labels) == 2  # both rules in the one legend


# --------------------------------------------------------------------------- hpo


def _trace() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for m in ("exact", "drmad", "online1", "ift", "gp_ei", "random"):
        for seed in (0, 1):
            for r in range(6):
                val = {"ift": 0.86}.get(m, 0.5 - 0.01 * r + 0.002 * seed)
                if m in ("gp_ei", "random"):
                    val = 0.5 + 0.05 * rng.random()
                    h = rng.uniform(-12, 0, 2)
                else:
                    k = 2 if m == "online1" else 1  # online1 leaves the others' path; exact = drmad = ift
                    h = np.array([-6 - r * k, -6 - r * k])
                at = {"wall_s": 0.1 * (r + 1), "inner_steps": 80 * (r + 1)}
                rows.append({"method": m, "seed": seed, "round": r, **at, "val_loss": val, "log_l2_0": h[0],
                             "log_lr": math.log(0.1) + 0.1 * h[1] / 12})  # fmt: skip
    return pd.DataFrame(rows)


def test_hpo_best_names_the_outlier_and_keeps_the_informative_range():
    from hyperlab.plotting.hpo import best_figure

    fig = best_figure(_trace(), None, None)
    for ax in fig.axes:
        assert ax.get_ylim()[1] < 0.86
    assert any("implicit function theorem: 0.860" in t for t in _texts(fig))
    _drawn_in_style(fig.axes[0], ["exact", "drmad", "online1", "ift", "gp_ei", "random"])
    # bands: only the best gradient and the best search method of each panel
    assert all(sum(isinstance(c, PolyCollection) for c in ax.collections) == 2 for ax in fig.axes)
    _one_legend(fig)


def test_incumbent_path_holds_the_h_of_the_best_trial_so_far():
    from hyperlab.plotting.hpo import incumbent_path

    trace = pd.DataFrame({"seed": 0, "round": [0, 1, 2, 3], "inner_steps": [80, 160, 240, 320],
                          "val_loss": [0.9, 0.5, 0.7, 0.4], "log_lr": [-1.0, -2.0, -3.0, -4.0]})  # fmt: skip
    assert incumbent_path(trace, "log_lr")["v"].tolist() == [-1.0, -2.0, -2.0, -4.0]


def test_hpo_paths_draw_the_box_human_names_and_name_coinciding_methods():
    from hyperlab.plotting.hpo import paths_figure

    problem = {"l2_box": [-12.0, 0.0], "lr_box": [0.01, 2.0]}
    fig = paths_figure(_trace(), ["log_l2_0", "log_lr"], None, problem)
    l2, lr = fig.axes
    assert "layer 1" in l2.get_ylabel() and "learning rate" in lr.get_ylabel()
    box = [line for line in lr.lines if line.get_label() == "box of h"]
    assert sorted(line.get_ydata()[0] for line in box) == pytest.approx([math.log(0.01), math.log(2.0)])
    title = fig._suptitle.get_text()
    assert "exact reverse mode = DrMAD (K = 1)" in title and "order 1" not in title.split("Coincide")[1]


def test_hpo_error_points_say_what_they_are():
    from hyperlab.plotting.hpo import error_figure

    rows = [{"point": p, "method": m, "rel_err": np.nan if (p, m) == (1, "drmad") else 0.1,
             "h_0": -6.0 if p == 0 else -3.0, "h_1": math.log(0.1) if p == 0 else math.log(1.5)}
            for p in (0, 1) for m in ("exact", "drmad", "ift")]  # fmt: skip
    fig = error_figure(pd.DataFrame(rows), ["log_l2_0", "log_lr"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith("point 0: h0") and "α = 0.1" in lab for lab in labels)
    assert any(lab.startswith("point 1: uniform draw") and "λ1 = -3.0" in lab and "α = 1.5" in lab for lab in labels)
    assert _texts(fig).count("NaN") == 1


# --------------------------------------------------------------------------- search, sampler_bench, candidates


def _wide(names, values) -> pd.DataFrame:
    frame = pd.DataFrame({"trial": np.arange(1, 6)})
    for n in names:
        frame[n], frame[f"{n}_q25"], frame[f"{n}_q75"] = values, values * 0.9, values * 1.1
    return frame


SEARCH = ["random_uniform", "random_layerwise", "gp_ei", "gp_ei_per_second", "tpe", "tpe_constrained", "motpe"]


def test_search_hypervolume_is_drawn_as_its_gap_on_a_log_axis():
    from hyperlab.plotting.search import band_figure

    ratio = np.array([0.5, 0.8, 0.9, 0.92, 0.94])
    fig = band_figure(_wide(SEARCH, ratio), dict(x="trial", xlabel="trial", ylabel="1 − ratio", title="t", gap=True))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    gp = next(line for line in ax.lines if line.get_label() == style.label("gp_ei"))
    np.testing.assert_allclose(gp.get_ydata(), 1 - ratio)


def test_search_regret_small_multiples_state_the_symlog_threshold_and_thin_the_bands():
    from hyperlab.plotting.search import LINTHRESH, band_figure, panels

    assert [t for t, _ in panels(SEARCH)] == ["GP-EI variants", "TPE variants", "other strategies"]
    spec = dict(x="trial", xlabel="trial", ylabel="regret", title="t", logy=True)
    fig = band_figure(_wide(SEARCH, np.array([0.02, 0.01, 0.004, 0.001, 0.0])), spec)
    assert f"linear below {LINTHRESH:g}" in fig.axes[0].get_ylabel()
    for ax in fig.axes:  # the uniform baseline and the panel's plain strategy
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
    _drawn_in_style(fig.axes[0], ["random_uniform", "random_layerwise", "gp_ei", "gp_ei_per_second"])
    _one_legend(fig)


def test_sampler_bench_bands_only_the_highlighted_samplers():
    from hyperlab.plotting.sampler_bench import BANDED, LINTHRESH, regret_figure

    grid = [(p, s, t) for p in ("branin", "table") for s in ("gp_ei", "tpe", "random") for t in (1, 2, 3)]
    curves = pd.DataFrame(
        [
            {"problem": p, "sampler": s, "trial": t, "median": 1.0 / t, "q25": 0.5 / t, "q75": 2.0 / t}
            for p, s, t in grid
        ]
    )
    fig = regret_figure(curves)
    for ax in fig.axes:
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == len(BANDED)
        _drawn_in_style(ax, ["gp_ei", "tpe", "random"])
    assert f"linear below {LINTHRESH:g}" in fig.axes[0].get_ylabel()
    _one_legend(fig)


def test_every_family_module_draws_distinct_styles():
    """The methods these figures draw together never share a look, and depths of the candidate table neither."""
    from hyperlab.plotting.candidates import LAYER_LOOKS

    style.styles(SEARCH)
    style.styles(["online1", "online3", "online5", "exact", "drmad", "kpiece4", "ift", "hypernet", "gp_ei", "tpe",
                  "random", "central_differences"])  # fmt: skip
    style.styles(["exact", "kpiece4", "drmad", "ift", "online5", "gp_ei", "tpe", "random", "cmaes"])
    assert len(set(LAYER_LOOKS.values())) == len(LAYER_LOOKS)
