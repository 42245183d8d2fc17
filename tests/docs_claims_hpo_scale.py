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


def _scale(data, column: str = "val_loss") -> pd.DataFrame:
    """method x d of ``column`` (medians over seeds) for the runs that ran."""
    s = data.csv(f"{SCALE}/summary.csv")
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
    """Flat (-0.029 .. -0.033) up to d = 162, then +0.036 (exact) and +0.053 (drmad) at the largest d."""
    gaps, val, test = _gaps(data), _scale(data), _scale(data, "test_loss")
    dims = sorted(gaps)
    below = [round(gaps[d], 3) for d in dims[:-1]]
    out = _unless(min(below) == -0.033 and max(below) == -0.029, f"gaps below the largest d {below}")
    top = dims[-1]
    jump = [round(float(test.loc[m, top] - val.loc[m, top]), 3) for m in ("exact", "drmad")]
    out += _unless(jump == [0.036, 0.053], f"gaps at d = {top}: {jump}")
    shown = [round(float(x), 3) for x in (*val.loc[["exact", "drmad"], top], *test.loc[["exact", "drmad"], top])]
    return out + _unless(shown == [0.341, 0.330, 0.377, 0.383], f"val and test at d = {top}: {shown}")


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


def most_fitted(data) -> list[str]:
    """README: "most of that gain is fitted": DrMAD against the best search method at the largest d."""
    val = _scale(data)
    _, search = _sides(data)
    top = max(val.columns)
    best = val.loc[[m for m in search if m in val.index], top].idxmin()
    return share_fitted("drmad", best, 0.75, 0.25)(data)


def exact_half_fitted(data) -> list[str]:
    val, test = _scale(data), _scale(data, "test_loss")
    top = max(val.columns)
    gains = [
        round(float(val.loc["exact", 3] - val.loc["exact", top]), 3),
        round(float(test.loc["exact", 3] - test.loc["exact", top]), 3),
    ]
    return _unless(gains == [0.134, 0.066], f"exact's gains {gains}") + share_fitted("exact", "d=3", 0.5)(data)


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


def _paired(data) -> dict:
    report = data.json(f"{SCALE}/report.json")
    return {f["family"]: f["scales"] for f in report["paired"]["families"]}


def crossover_depends_on_scale(data) -> list[str]:
    cross = data.json(f"{SCALE}/report.json")["paired"]["crossover"]
    dims = {k: v["dim"] for k, v in cross.items()}
    return _unless(len(set(dims.values())) > 1, f"the same crossover on every scale {dims}")


def unit_test_error_close(data) -> list[str]:
    s = data.csv(f"{SCALE}/summary.csv").set_index(["family", "method"]).test_error
    verdict = next(v for v in data.json(f"{SCALE}/report.json")["verdicts"] if v["family"] == "unit")
    a, b = verdict["best_hypergradient"]["method"], verdict["best_search"]["method"]
    points = round(100 * abs(s[("unit", a)] - s[("unit", b)]), 1)
    return _unless(a == "exact" and points == 0.1, f"unit: {a} vs {b} differ by {points} points of test error")


def tpe_wins_d3_on_objective_only(data) -> list[str]:
    layer = _paired(data)["layer"]
    verdict = next(v for v in data.json(f"{SCALE}/report.json")["verdicts"] if v["family"] == "layer")
    out = _unless(verdict["best_search"]["method"] == "tpe" and not verdict["clear"], "layer: not TPE, or clear")
    out += _unless(layer["val_loss"]["search_ahead"] == 5 and layer["val_loss"]["winner"] == "search", "val")
    return out + _unless(layer["test_loss"]["winner"] is None and layer["test_error"]["winner"] is None, "test")


def reverse_not_charged(data) -> list[str]:
    unit = data.json(f"{HPO}/report.json")["budget_unit"]
    return _unless(unit["reverse"] > 0, "a reverse step costs nothing")


def search_degrades(data) -> list[str]:
    val = _scale(data)
    up = {m: val.loc[m].drop(3).dropna() - val.loc[m, 3] for m in ("gp_ei", "tpe", "random")}
    bo = pd.concat([up["gp_ei"], up["tpe"]])
    out = _unless(round(bo.min(), 2) == 0.04 and round(bo.max(), 2) == 0.09, f"GP-EI and TPE rise {bo.tolist()}")
    rnd, top = up["random"], max(val.columns)
    out += _unless(round(rnd.drop(top).min(), 2) == 0.02 and round(rnd.drop(top).max(), 2) == 0.06, f"random {rnd}")
    return out + _unless(abs(rnd[top]) < 0.01, f"random at d = {top} moves {rnd[top]:.3f}")


def cmaes_rank(best_at: tuple[int, ...], worst_at: tuple[int, ...]) -> Check:
    """CMA-ES is the best search method at ``best_at`` and the worst at ``worst_at``."""

    def check(data) -> list[str]:
        val = _scale(data)
        _, search = _sides(data)
        s = val.loc[[m for m in search if m in val.index]]
        out = [f"CMA-ES is not the best search method at d = {d}" for d in best_at if s[d].idxmin() != "cmaes"]
        return out + [f"CMA-ES is not the worst search method at d = {d}" for d in worst_at if s[d].idxmax() != "cmaes"]

    return check


def descent_better_with_d(data) -> list[str]:
    val = _scale(data)
    best3 = round(float(val[3].min()), 3)
    shown = [round(float(val.loc["exact", 162]), 3), round(float(val.loc["drmad", max(val.columns)]), 3)]
    return _unless(best3 == 0.470 and shown == [0.452, 0.330] and max(shown) < best3, f"{shown} vs {best3}")


def hesbo_best_search_at_top(data) -> list[str]:
    val = _scale(data)
    _, search = _sides(data)
    top = max(val.columns)
    s = val.loc[[m for m in search if m in val.index], top].dropna()
    out = _unless(s.idxmin() == "hesbo" and round(s["random"], 3) == 0.486, f"search at d = {top}: {s.to_dict()}")
    weight = _paired(data)["weight"]
    return out + _unless(all(weight[k]["hypergradient_ahead"] == 5 for k in weight), f"weight paired {weight}")


def hesbo_never_best_below(data) -> list[str]:
    val = _scale(data)
    _, search = _sides(data)
    s = val.loc[[m for m in search if m in val.index]].drop(columns=max(val.columns))
    out = _unless(all(s[d].idxmin() != "hesbo" for d in s.columns), "hesbo is the best search method below the top")
    h, best = s.loc["hesbo"], s.min()
    got = [round(h.min(), 3), round(h.max(), 3), round(best.min(), 3), round(best.max(), 3)]
    return out + _unless(got == [0.478, 0.531, 0.470, 0.509], f"ranges {got}")


def interpolated_near_exact(data) -> list[str]:
    val, mem = _scale(data), _scale(data, "memory_mb")
    diff = (val.loc[["kpiece4", "drmad"]] - val.loc["exact"]).abs().max().max()
    out = _unless(round(diff, 3) == 0.020, f"DrMAD or K-piece {diff:.3f} from exact")
    below = {
        m: sorted(int(d) for d in val.columns if val.loc[m, d] < val.loc["exact", d]) for m in ("kpiece4", "drmad")
    }
    out += _unless(below == {"kpiece4": [3, 18], "drmad": [max(val.columns)]}, f"below exact at {below}")
    ratio = mem.loc["exact"] / mem.loc[["kpiece4", "drmad"]]
    return out + _unless(round(ratio.min().min()) == 5 and round(ratio.max().max()) == 5, f"memory ratios {ratio}")


def drmad_best_at_top_but_worse_test(data) -> list[str]:
    val, test = _scale(data), _scale(data, "test_loss")
    top = max(val.columns)
    out = _unless(val[top].idxmin() == "drmad", f"the best at d = {top} is {val[top].idxmin()}")
    return out + _unless(test.loc["drmad", top] > test.loc["exact", top], "DrMAD's test CE is not worse than exact's")


def online_trails_exact(data) -> list[str]:
    val = _scale(data)
    gap = val.loc["online5"] - val.loc["exact"]
    return _unless(gap.min() > 0 and round(gap.min(), 2) == 0.01 and round(gap.max(), 2) == 0.04, f"gaps {gap}")


def online_passes(shown: int) -> Check:
    """``online5`` gets h0 and ``shown`` passes within the budget (its evaluations, h0 included, minus one)."""

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


def equal_compute_evaluations(data) -> list[str]:
    """Limits: at equal compute a search gets ~61 evaluations, ift ~38 outer steps, online5 ~10 passes."""
    unit = data.json(f"{HPO}/report.json")["budget_unit"]
    T, every, n, cg = 80, 4, 5, 30
    descent = 20 * (T + T * unit["reverse"])
    online = (every + n) * (T // every) + T + (T // every) * n * unit["reverse"]
    got = [round(descent / T), round(descent / (T + unit["reverse"] + cg * unit["cg"])), round((descent - T) / online)]
    return _unless(got == [61, 38, 10], f"evaluations, ift steps, online5 passes at equal compute {got}")


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
    report = data.json(f"{SCALE}/report.json")
    cross, out = report["paired"]["crossover"], []
    for f in report["paired"]["families"]:
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
