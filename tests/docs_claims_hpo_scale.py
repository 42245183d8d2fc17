"""The checks of ``docs/hpo-scale.md``'s sentences (and the README's HPO-at-scale row) against ``plots/hpo_scale``.

Registered by :mod:`docs_claims_hpo` (the HPO pages' list of claims); see there. A check takes the committed
files (``test_docs_claims.Committed``) and returns what in them contradicts its sentence, [] if nothing;
factories (:func:`share_fitted`, :func:`cmaes_rank`, :func:`online_passes`, :func:`runs_count`) build the
check of what a sentence says, so the tests can build a wrong sentence's check and see it fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

Check = Callable[[Any], list[str]]
HPO = "plots/hpo"
SCALE = "plots/hpo_scale"


def _unless(ok: bool, problem: str) -> list[str]:
    return [] if ok else [problem]


def _near(value: float, shown: float, tol: float) -> bool:
    return abs(value - shown) <= tol


def _scale(data, column: str = "val_loss", summary: str = "summary.csv") -> pd.DataFrame:
    """method x d of ``column`` (medians over seeds) for the runs that ran (``summary``: a view's summary table)."""
    s = data.csv(f"{SCALE}/{summary}")
    return s[s.ran.astype(bool)].pivot(index="method", columns="dim", values=column)


def _sides(data) -> tuple[list[str], list[str]]:
    s = data.csv(f"{SCALE}/summary.csv")
    return sorted(set(s[s.side == "hypergradient"].method)), sorted(set(s[s.side == "search"].method))


def _gaps(data) -> dict[int, float]:
    """Per d, test CE minus validation CE of the family's best hypergradient method (medians)."""
    val, test = _scale(data), _scale(data, "test_loss")
    grad, _ = _sides(data)
    best = val.loc[[m for m in grad if m in val.index]].idxmin()
    return {int(d): float(test.loc[m, d] - val.loc[m, d]) for d, m in best.items()}


def gap_flat_then_jump(data) -> list[str]:
    """Flat (-0.029 .. -0.032) up to d = 162, then +0.036 (exact) and +0.038 (drmad) at the largest d."""
    gaps, val, test = _gaps(data), _scale(data), _scale(data, "test_loss")
    dims = sorted(gaps)
    below = [round(gaps[d], 3) for d in dims[:-1]]
    out = _unless(min(below) == -0.032 and max(below) == -0.029, f"gaps below the largest d {below}")
    top = dims[-1]
    jump = [round(float(test.loc[m, top] - val.loc[m, top]), 3) for m in ("exact", "drmad")]
    out += _unless(jump == [0.036, 0.038], f"gaps at d = {top}: {jump}")
    shown = [round(float(x), 3) for x in (*val.loc[["exact", "drmad"], top], *test.loc[["exact", "drmad"], top])]
    return out + _unless(shown == [0.341, 0.340, 0.377, 0.378], f"val and test at d = {top}: {shown}")


def gap_grows_with_d(data) -> list[str]:
    """The wrong sentence "the test-validation gap grows with d": every step up in d widens the gap."""
    gaps = _gaps(data)
    dims = sorted(gaps)
    shrinks = [(a, b) for a, b in zip(dims, dims[1:]) if gaps[b] <= gaps[a]]
    return _unless(not shrinks, f"the gap does not grow from d = {shrinks[0][0]} to {shrinks[0][1]}" if shrinks else "")


def share_fitted(method: str, against: str, shown: float, tol: float = 0.05) -> Check:
    """The share of ``method``'s validation-CE gain over ``against`` (at the largest d, or d = 3 when ``against``
    is ``"d=3"``) that the test CE does not keep is ``shown`` (within ``tol``)."""

    def check(data) -> list[str]:
        val, test = _scale(data), _scale(data, "test_loss")
        top = max(val.columns)
        if against == "d=3":
            gain, kept = val.loc[method, 3] - val.loc[method, top], test.loc[method, 3] - test.loc[method, top]
        else:
            gain, kept = val.loc[against, top] - val.loc[method, top], test.loc[against, top] - test.loc[method, top]
        fitted = 1 - kept / gain
        return _unless(_near(fitted, shown, tol), f"{method} vs {against}: {fitted:.0%} of the gain is fitted")

    return check


def exact_half_fitted(data) -> list[str]:
    val, test = _scale(data), _scale(data, "test_loss")
    top = max(val.columns)
    gains = [
        round(float(val.loc["exact", 3] - val.loc["exact", top]), 3),
        round(float(test.loc["exact", 3] - test.loc["exact", top]), 3),
    ]
    return _unless(gains == [0.134, 0.066], f"exact's gains {gains}") + share_fitted("exact", "d=3", 0.5, 0.03)(data)


def _acc(data) -> pd.DataFrame:
    return data.csv(f"{SCALE}/hypergrad_accuracy.csv").set_index(["family", "point", "method"])


def exact_agrees_but_at_one_point(data) -> list[str]:
    cd = _acc(data).xs("central_differences", level="method").rel_err
    bad = sorted(k for k, v in cd.items() if v > 1e-5)
    out = _unless(bad == [("knots", 1), ("unit", 1)], f"central differences off by > 1e-5 at {bad}")
    return out + _unless(_near(cd[("knots", 1)], 1.4e-3, 5e-5), f"knots' uniform point {cd[('knots', 1)]:.2g}")


def chaotic_unit_point(data) -> list[str]:
    a = _acc(data)
    got = (a.rel_err[("unit", 1, "exact")], a.cosine[("unit", 1, "central_differences")])
    return _unless(round(100 * got[0]) == 126 and round(got[1], 2) == 0.22, f"unit's uniform point {got}")


def online_points_elsewhere_on_schedules(data) -> list[str]:
    cos = [_acc(data).cosine[(f, 0, "online5")] for f in ("knots", "schedule")]
    return _unless(sorted(round(c, 2) for c in cos) == [0.26, 0.29], f"online5's cosines at h0 {cos}")


def kpiece_near_exact_from_h0(data) -> list[str]:
    err = _acc(data).xs((0, "kpiece4"), level=("point", "method")).rel_err
    return _unless(round(100 * err.max()) <= 6, f"K = 4 pieces off by {err.max():.1%} at h0")


def _view(data, view: str | None = None) -> dict:
    """A budget view of ``hpo_scale``'s report: the headline (equal compute) unless named."""
    report = data.json(f"{SCALE}/report.json")
    return report["views"][view or report["headline_view"]]


def _paired(data) -> dict:
    return {f["family"]: f["scales"] for f in _view(data)["paired"]["families"]}


def cmaes_rank(best_at: tuple[int, ...], worst_at: tuple[int, ...]) -> Check:
    """CMA-ES is the best search method at ``best_at`` and the worst at ``worst_at``."""

    def check(data) -> list[str]:
        val = _scale(data)
        _, search = _sides(data)
        s = val.loc[[m for m in search if m in val.index]]
        out = [f"CMA-ES is not the best search method at d = {d}" for d in best_at if s[d].idxmin() != "cmaes"]
        return out + [f"CMA-ES is not the worst search method at d = {d}" for d in worst_at if s[d].idxmax() != "cmaes"]

    return check


def interpolated_near_exact(data) -> list[str]:
    val, mem = _scale(data), _scale(data, "memory_mb")
    diff = (val.loc[["kpiece4", "drmad"]] - val.loc["exact"]).abs().max().max()
    out = _unless(round(diff, 3) <= 0.020, f"DrMAD or K-piece {diff:.3f} from exact")
    below = {
        m: sorted(int(d) for d in val.columns if val.loc[m, d] < val.loc["exact", d]) for m in ("kpiece4", "drmad")
    }
    out += _unless(below == {"kpiece4": [3, 18], "drmad": [max(val.columns)]}, f"below exact at {below}")
    ratio = mem.loc["exact"] / mem.loc[["kpiece4", "drmad"]]
    return out + _unless(round(ratio.min().min()) == 5 and round(ratio.max().max()) == 5, f"memory ratios {ratio}")


def online_trails_exact(data) -> list[str]:
    val = _scale(data)
    gap = val.loc["online5"] - val.loc["exact"]
    return _unless(gap.min() > 0 and round(gap.min(), 2) == 0.01 and round(gap.max(), 2) == 0.04, f"gaps {gap}")


def online_passes(shown: int) -> Check:
    """``online5`` gets h0 and ``shown`` passes within the headline budget (its evaluations, h0 included, minus one)."""

    def check(data) -> list[str]:
        runs = data.csv(f"{SCALE}/runs.csv").query("method == 'online5' and ran")
        passes = sorted(set((runs.evaluations - 1).astype(int)))
        return _unless(passes == [shown], f"online5 runs {passes} passes after h0")

    return check


def runs_count(pairs_run: int) -> Check:
    """The stage runs ``pairs_run`` method-family pairs (x seeds); the others cannot run."""

    def check(data) -> list[str]:
        runs = data.csv(f"{SCALE}/runs.csv")
        seeds = data.json(f"{SCALE}/report.json")["params"]["seeds"]
        ran = int(runs.ran.astype(bool).sum())
        pairs, skipped = runs.groupby(["family", "method"]).ngroups, int((~runs.ran.astype(bool)).sum())
        out = _unless(ran == pairs_run * seeds, f"{ran} runs, not {pairs_run} x {seeds}")
        return out + _unless(pairs - skipped == pairs_run, f"{pairs} pairs, {skipped} cannot run")

    return check


def memory_limits(data) -> list[str]:
    mem = _scale(data, "memory_mb")
    exact = (mem.loc["exact"] / mem.loc["random"]).round()
    twice = (mem.loc[["kpiece4", "drmad"]] / mem.loc["random"]).round()
    return _unless(set(exact) <= {9.0, 10.0} and set(twice.stack()) == {2.0}, f"{exact.tolist()}, {twice}")


def budget_unit_every_family(data) -> list[str]:
    """docs/hpo-scale.md: the same 2.04 and 1.52 at every d (``hpo_scale``'s ``report.json``, per family)."""
    units = data.json(f"{SCALE}/report.json")["budget_unit"]
    got = {f: (round(u["reverse"], 2), round(u["cg"], 2)) for f, u in units.items()}
    return _unless(set(got.values()) == {(2.04, 1.52)}, f"budget units per family {got}")


def crossovers_every_seed(data) -> list[str]:
    """README: from the crossover on (val CE, test error), the hypergradient side is ahead on every seed."""
    paired = _view(data)["paired"]
    cross, out = paired["crossover"], []
    for f in paired["families"]:
        for scale in ("val_loss", "test_error"):
            s, at = f["scales"][scale], cross[scale]["dim"]
            if at is not None and f["dim"] >= at and s["hypergradient_ahead"] != s["seeds"]:
                out.append(f"{f['family']}, {scale}: ahead on {s['hypergradient_ahead']} of {s['seeds']} seeds")
    return out


def runs_record_their_cost(data) -> list[str]:
    """Method: every run records its forward steps, reverse steps and CG products within the budget
    (``hpo.cost``): a reverse-mode outer step reverses every forward step, a search runs forward steps only."""
    runs = data.csv(f"{SCALE}/runs.csv")
    runs = runs[runs.ran.astype(bool)]
    missing = {"forward_steps", "reverse_steps", "cg_products"} - set(runs.columns)
    if missing:
        return [f"runs.csv has no {sorted(missing)}"]
    out = []
    for method, g in runs.groupby("method"):
        if method in ("exact", "kpiece4", "drmad") and not (g.reverse_steps == g.forward_steps).all():
            out.append(f"{method}: reverse steps differ from forward steps")
        if method in ("gp_ei", "tpe", "random", "cmaes", "hesbo") and (g.reverse_steps + g.cg_products).any():
            out.append(f"{method}: a search run with reverse steps or CG products")
    return out


def _both(data, column: str = "val_loss") -> dict[str, pd.DataFrame]:
    """method x d of ``column`` in each budget view (headline: ``compute``; ``steps``)."""
    views = (("compute", "summary.csv"), ("steps", "summary_step_budget.csv"))
    return {view: _scale(data, column, name) for view, name in views}


def rounds_per_view(data) -> list[str]:
    """Method: within 4,800 equivalents 60 evaluations, 19 outer steps of the reverse-mode descents, 37 of ift, h0 and
    10 passes of online5; within 1,600 forward steps 20 evaluations and 20 outer steps."""
    want = {
        "compute": {"gp_ei": 60, "tpe": 60, "random": 60, "cmaes": 60, "hesbo": 60, "exact": 19, "kpiece4": 19},
        "steps": {"gp_ei": 20, "tpe": 20, "random": 20, "cmaes": 20, "hesbo": 20, "exact": 20, "kpiece4": 20},
    }
    want["compute"].update({"drmad": 19, "ift": 37, "online5": 11})
    out = []
    for view, name in (("compute", "runs.csv"), ("steps", "runs_step_budget.csv")):
        runs = data.csv(f"{SCALE}/{name}")
        got = runs[runs.ran.astype(bool)].groupby("method").evaluations.agg(lambda e: sorted(set(e)))
        out += [f"{view}: {m} has {got[m]} rounds, not {n}" for m, n in want[view].items() if got.get(m) != [n]]
    return out


def search_gaps_negative(data) -> list[str]:
    """The search methods keep test CE below validation CE at every d (-0.009 .. -0.053)."""
    val, test = _scale(data), _scale(data, "test_loss")
    _, search = _sides(data)
    gaps = (test - val).loc[[m for m in search if m in val.index]].stack().dropna()
    return _unless(round(gaps.max(), 3) == -0.009 and round(gaps.min(), 3) == -0.053, f"search gaps {gaps.tolist()}")


def lead_lost_below_162(data) -> list[str]:
    """At the step budget the hypergradient side won d = 18 and 27 on validation CE; at equal compute it does not."""
    steps, compute = _view(data, "steps")["paired"], _view(data)["paired"]
    won = {
        v: {f["dim"] for f in p["families"] if f["scales"]["val_loss"]["winner"] == "hypergradient"}
        for v, p in (("steps", steps), ("compute", compute))
    }
    return _unless({18, 27} <= won["steps"] and not {3, 18, 27} & won["compute"] and 162 in won["compute"], f"{won}")


def searches_use_the_evaluations(data) -> list[str]:
    """At d = 18 GP-EI 0.555 -> 0.475 and CMA-ES 0.596 -> 0.510 from 20 to 60 evaluations; at d = 27 CMA-ES 0.463
    ahead of exact (0.475) on 4 of 5 seeds; the descents' h moves by 0.01 at most between 20 and 19 outer steps."""
    v = _both(data)
    got = [round(float(v[view].loc[m, 18]), 3) for m in ("gp_ei", "cmaes") for view in ("steps", "compute")]
    out = _unless(got == [0.555, 0.475, 0.596, 0.510], f"d = 18, steps -> compute: {got}")
    unit = _paired(data)["unit"]["val_loss"]
    out += _unless(unit["search_ahead"] == 4 and round(float(v["compute"].loc["cmaes", 27]), 3) == 0.463, f"{unit}")
    moved = (v["steps"] - v["compute"]).loc[["exact", "kpiece4", "drmad"]].abs().max().max()
    return out + _unless(round(moved, 2) <= 0.01, f"the descents' validation CE moves {moved:.4f}")


def no_side_at_18_and_27(data) -> list[str]:
    """At equal compute no side wins d = 18 or 27 on any scale; at d = 3 the search side wins val CE and test error."""
    paired = _paired(data)
    out = [
        f"{f}: {k} won by {paired[f][k]['winner']}"
        for f in ("knots", "unit")
        for k in paired[f]
        if paired[f][k]["winner"]
    ]
    layer = {k: paired["layer"][k]["winner"] for k in paired["layer"]}
    return out + _unless(layer == {"val_loss": "search", "test_loss": None, "test_error": "search"}, f"d = 3: {layer}")


def tpe_wins_d3(data) -> list[str]:
    """README: TPE is the best search method at d = 3 and wins there (paired, on the objective)."""
    verdict = next(v for v in _view(data)["verdicts"] if v["family"] == "layer")
    layer = _paired(data)["layer"]
    return _unless(verdict["best_search"]["method"] == "tpe" and layer["val_loss"]["winner"] == "search", f"{verdict}")


def test_error_only_at_the_top(data) -> list[str]:
    """From d = 162 both cross-entropies on every seed; test error only at the largest d (d = 162: 4 of 5 seeds,
    12.2 % against 13.4 %)."""
    paired, out = _paired(data), []
    for f in ("schedule", "weight"):
        out += [
            f"{f} {k}: {paired[f][k]['winner']}"
            for k in ("val_loss", "test_loss")
            if paired[f][k]["winner"] != "hypergradient"
        ]
    sched = paired["schedule"]["test_error"]
    out += _unless(sched["winner"] is None and sched["hypergradient_ahead"] == 4, f"schedule test error {sched}")
    out += _unless(paired["weight"]["test_error"]["winner"] == "hypergradient", "weight test error")
    verdict = next(v for v in _view(data)["verdicts"] if v["family"] == "schedule")
    shown = [round(100 * verdict[k]["test_error"], 1) for k in ("best_hypergradient", "best_search")]
    return out + _unless(shown == [12.2, 13.4], f"schedule test errors {shown}")


def hesbo_best_at_the_two_largest(data) -> list[str]:
    """hesbo is the best search method at d = 162 and 12,705 (0.491, 0.478; random 0.504, 0.485) and at no smaller d."""
    val = _scale(data)
    _, search = _sides(data)
    s = val.loc[[m for m in search if m in val.index]]
    best = {int(d): s[d].dropna().idxmin() for d in s.columns}
    big = sorted(best)[-2:]
    out = [f"the best search method at d = {d} is {m}" for d, m in best.items() if (m == "hesbo") != (d in big)]
    shown = [round(float(val.loc[m, d]), 3) for m in ("hesbo", "random") for d in big]
    return out + _unless(shown == [0.491, 0.478, 0.504, 0.485], f"hesbo, random at {big}: {shown}")


def ift_fails(data) -> list[str]:
    """IFT ends at 0.84-0.86 at every d, against f(h0) = 0.862."""
    ift = _scale(data).loc["ift"]
    h0 = data.csv(f"{SCALE}/summary.csv").initial_val_loss.median()
    return _unless(round(ift.min(), 2) == 0.84 and round(ift.max(), 2) == 0.86 and round(h0, 3) == 0.862, f"{ift}")


def wall_model_based_search_more(data) -> list[str]:
    """Limits: median wall seconds per run (the committed run), GP-EI, TPE and HeSBO 3.7-5.7, every one above
    the descents' 2.3-2.6; random search 2.5 and CMA-ES 3.0."""
    s = data.csv(f"{SCALE}/summary.csv")
    med = s[s.ran.astype(bool)].groupby("method").wall_s.median()
    grad, _ = _sides(data)
    g, model = med[[m for m in grad if m in med]], med[["gp_ei", "tpe", "hesbo"]]
    got = [round(model.min(), 1), round(model.max(), 1), round(g.min(), 1), round(g.max(), 1)]
    out = _unless(got == [3.7, 5.7, 2.3, 2.6] and model.min() > g.max(), f"wall seconds {got}")
    return out + _unless([round(med["random"], 1), round(med["cmaes"], 1)] == [2.5, 3.0], f"random, cmaes {med}")


SWEEP = "plots/hpo_sweep"


def _kind(data, kind: str, view: str = "compute") -> dict[str, dict]:
    """family -> scale -> paired verdict of one sweep kind."""
    paired = data.json(f"{SWEEP}/report.json")["kinds"][kind]["views"][view]["paired"]
    return {f["family"]: {k: s["winner"] for k, s in f["scales"].items()} for f in paired["families"]}


def sweep_by_kind(data) -> list[str]:
    """The sweep's verdicts as the page states them, member by member, at equal compute."""
    lr, l2 = _kind(data, "lr_knots"), _kind(data, "l2_groups")
    both = {"val_loss", "test_loss"}
    out = [
        f"knots{k}: {lr[f'knots{k}']}" for k in (1, 2) if {s for s in both if lr[f"knots{k}"][s] == "search"} != both
    ]
    out += [f"{f}: {lr[f]}" for f in ("knots4", "knots") if any(lr[f].values())]
    out += _unless(lr["schedule"]["val_loss"] == lr["schedule"]["test_loss"] == "hypergradient", f"K = T: {lr}")
    out += _unless(not any(v["test_error"] for v in lr.values()), f"a side wins test error at some K: {lr}")
    won = [f for f in ("groups1", "groups16", "groups256", "weight") if l2[f]["val_loss"] == "hypergradient"]
    out += _unless(won == ["groups256", "weight"], f"L2 kind, validation CE won at {won}")
    every = [f for f, v in l2.items() if all(w == "hypergradient" for w in v.values())]
    out += _unless(every == ["weight"], f"L2 kind, every scale won at {every}")
    steps = data.json(f"{SWEEP}/report.json")["kinds"]["lr_knots"]["views"]["steps"]["paired"]["crossover"]
    return out + _unless(steps["val_loss"]["dim"] == 10, f"lr kind at the step budget: {steps['val_loss']}")
