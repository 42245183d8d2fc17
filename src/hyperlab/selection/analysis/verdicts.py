"""The comparison's conclusions: one sentence with numbers per question, and the headline numbers.

:func:`verdicts` answers the study's questions from the comparison's tables
(cost-aware vs plain at a common training time, the best strategy under the
latency budget, MOTPE's place on each front metric, whether the latency
verdicts survive re-measured latencies); :func:`headline` picks the few
numbers of ``metrics/search.json`` off the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperlab.selection.analysis.stats import REGRET_TOL


def _median_at(bands: dict, grid: np.ndarray, s: str, x: float) -> float:
    j = int(np.searchsorted(grid, x, side="right") - 1)
    return float(bands[s]["median"].iloc[max(j, 0)])


FRONT_METRICS = ("hv_ratio_log", "hv_ratio_linear", "front_share", "igd_plus")


def _train_time(f: pd.DataFrame, train: tuple, n_trials: int) -> tuple[dict, dict]:
    """Snoek's setting: each ``*_per_second`` strategy against its plain one at a common training time."""
    grid, tbands, totals = train
    out, outcome = {}, {}
    for plain, ps in (("gp_ei", "gp_ei_per_second"), ("tpe", "tpe_per_second")):
        if plain in tbands and ps in tbands:
            # the smallest median total, so neither curve is extrapolated
            x = min(float(np.median(totals[plain])), float(np.median(totals[ps])))
            a, b = _median_at(tbands, grid, ps, x), _median_at(tbands, grid, plain, x)
            word = "lower than" if a < b - REGRET_TOL else ("higher than" if a > b + REGRET_TOL else "the same as")
            key = f"{ps}_vs_{plain}_train_time"
            out[key] = (
                f"after {x:.2f} s of cumulative training, {ps} has median regret {a:.4f}, {word} "
                f"{plain}'s {b:.4f} (same {n_trials}-trial budget: {f.loc[ps, 'median_regret']:.4f} vs "
                f"{f.loc[plain, 'median_regret']:.4f}; total training {np.median(totals[ps]):.2f} s vs "
                f"{np.median(totals[plain]):.2f} s)"
            )
            outcome[key] = word
    return out, outcome


def _front(f: pd.DataFrame, pareto_strategy: str) -> tuple[str, tuple]:
    """``pareto_strategy``'s place among the strategies on each front metric."""
    parts, places = [], []
    for k in FRONT_METRICS:
        col = f[f"median_{k}"]
        ranked = col.sort_values(ascending=k == "igd_plus")  # igd+: lower is better
        place = list(ranked.index).index(pareto_strategy) + 1
        places.append(place)
        parts.append(
            f"{k}: {pareto_strategy} {col[pareto_strategy]:.3f}, rank {place}/{len(col)} "
            f"(best {ranked.index[0]} {ranked.iloc[0]:.3f})"
        )
    return "; ".join(parts), tuple(places)


def _remeasured(rem: pd.DataFrame) -> tuple[dict, tuple]:
    """Whether the best strategy of each latency reading stays the best under every independent re-timing."""
    stab, outcome = {}, []
    for k, low in (("budget_median_regret", True), ("median_hv_ratio_log", False), ("median_front_share", False)):
        bests = {}
        for name, g in rem.groupby("measurement", sort=False):
            g = g.set_index("strategy")[k]
            bests[name] = (g.idxmin() if low else g.idxmax(), float(g.min() if low else g.max()))
        names = {b[0] for b in bests.values()}
        stab[k] = (
            ("stable" if len(names) == 1 else "NOT stable")
            + ": best "
            + "; ".join(f"{m}: {b[0]} {b[1]:.4f}" for m, b in bests.items())
        )
        outcome.append(tuple(sorted(names)))
    return stab, tuple(outcome)


def verdicts(final: pd.DataFrame, rem: pd.DataFrame, train: tuple, pareto_strategy: str, n_trials: int):
    """One sentence with numbers per question the study answers, and per sentence its outcome.

    The outcome is what must be the same on another realization of the table
    for the sentence to hold there too (a winner, a word, ranks); ``compare``
    states a sentence only when every realization gives the same outcome.
    ``train``: (grid, bands, totals) of regret vs cumulative training seconds;
    ``n_trials``: every study's trials.
    """
    f = final.set_index("strategy")
    out, outcome = _train_time(f, train, n_trials)
    # the user's setting: best network under the latency budget
    order = f.sort_values(["budget_median_regret", "budget_found_best"], ascending=[True, False])
    best = order.index[0]
    out["latency_budget"] = (
        f"under the latency budget, {best} has the lowest median regret {order.iloc[0]['budget_median_regret']:.4f} "
        f"(found the best feasible network in {order.iloc[0]['budget_found_best']:.0%} of repeats); "
        + ", ".join(f"{s} {order.loc[s, 'budget_median_regret']:.4f}" for s in order.index[1:])
    )
    outcome["latency_budget"] = best
    if pareto_strategy in f.index:  # front quality per metric: the pareto strategy's place
        key = f"{pareto_strategy}_front"
        out[key], outcome[key] = _front(f, pareto_strategy)
    out["remeasured"], outcome["remeasured"] = _remeasured(rem)
    return out, outcome


def headline(report: dict) -> dict:
    """The few numbers for ``metrics/search.json``, read off the report (everything else stays there).

    The best error and the latency budget are not repeated here: they are
    properties of the table (``metrics/candidates.json``), not of a search.
    """
    s = report["strategies"]
    out = {}
    for name in ("gp_ei", "tpe", "random_uniform"):
        if name in s:
            out[f"{name}_median_regret"] = float(s[name]["median_regret"])
            out[f"{name}_repeats_per_study"] = float(s[name]["repeats_per_study"])
    if "motpe" in s:
        out["motpe_hv_ratio_log"] = float(s["motpe"]["median_hv_ratio_log"])
        out["motpe_front_share"] = float(s["motpe"]["median_front_share"])
    for name in ("gp_ei_constrained", "tpe_constrained"):
        if name in s:
            out[f"{name}_budget_regret"] = float(s[name]["budget_median_regret"])
    return out
