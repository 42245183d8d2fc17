"""How a search went, trial by trial, measured against the table's known optimum.

- Simple regret after t trials (observed-incumbent regret, column ``regret``):
  true (seed-mean) validation error of the incumbent -- the network with the
  lowest *observed* validation error so far -- minus the best seed-mean
  validation error of the table. Before any trial completes it is the worst
  network's regret.
- Search regret (column ``search_regret``): the best true error among the
  networks evaluated so far, minus the best: what the sampler found, whatever
  luck its observations had (a lower bound of the incumbent regret).
- Cumulative cost: the sum of the drawn rows' cost (inference latency by
  default) over the trials run; a failed lookup adds nothing.
- Hypervolume ratio: hypervolume of the evaluated networks' true
  (validation error, latency) points over that of the table's whole Pareto
  front, on the log normalized axes of :mod:`hyperlab.selection.analysis.fronts`.
- Under a latency budget: the same regret among the networks whose seed-mean
  latency meets the budget (:func:`budget_curve`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from hyperlab.selection.analysis.fronts import REFERENCE, hypervolume_2d, normalized_points, pareto_mask


class Truth(NamedTuple):
    """Per-network truth the metrics need."""

    nets: pd.DataFrame  # index arch: val_error, test_error, latency_ms (seed means)
    best_val: float
    worst_regret: float
    norm_points: pd.DataFrame  # index arch: normalized (log error, log latency)
    front_hv: float


def table_truth(nets: pd.DataFrame) -> Truth:
    err = nets["val_error"].to_numpy(float)
    norm = normalized_points(nets, log=True)
    best = float(err.min())
    return Truth(nets, best, float(err.max() - best), norm, hypervolume_2d(norm.to_numpy(), REFERENCE))


def trial_curves(trials: pd.DataFrame, truth: Truth) -> pd.DataFrame:
    """One row per (repeat, trial): regret, search regret, cumulative cost, hypervolume ratio, incumbent's truth."""
    rows = []
    for repeat, g in trials.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        best_obs, inc, cum = np.inf, None, 0.0
        best_true = truth.best_val + truth.worst_regret
        seen: dict[str, np.ndarray] = {}
        for t in g.itertuples(index=False):
            cum += float(t.cost) if np.isfinite(t.cost) else 0.0
            if t.state == "COMPLETE" and t.arch in truth.nets.index:
                if t.val_error < best_obs:
                    best_obs, inc = float(t.val_error), t.arch
                seen[t.arch] = truth.norm_points.loc[t.arch].to_numpy()
                best_true = min(best_true, float(truth.nets.loc[t.arch, "val_error"]))
            hv = hypervolume_2d(np.array(list(seen.values())), REFERENCE) if seen else 0.0
            if inc is None:
                regret, test, lat = truth.worst_regret, np.nan, np.nan
            else:
                net = truth.nets.loc[inc]
                regret, test, lat = net.val_error - truth.best_val, net.test_error, net.latency_ms
            found = best_true - truth.best_val
            rows.append((repeat, t.trial + 1, regret, found, cum, hv / truth.front_hv, inc or "", test, lat))
    columns = ["regret", "search_regret", "cum_cost", "hv_ratio", "incumbent", "test_error", "latency_ms"]
    return pd.DataFrame(rows, columns=["repeat", "trial", *columns])


def band(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Median and inter-quartile range of ``column`` over repeats, per trial."""
    q = curves.groupby("trial")[column].quantile([0.25, 0.5, 0.75]).unstack()
    return pd.DataFrame({"median": q[0.5], "q25": q[0.25], "q75": q[0.75]})


def regret_at_cost(curves: pd.DataFrame, grid: np.ndarray, worst: float) -> np.ndarray:
    """(repeats, len(grid)) regret once ``grid[j]`` has been spent.

    A repeat whose budget ran out before ``grid[j]`` keeps its final regret (an
    upper bound of what more trials would give); before its first trial, ``worst``.
    """
    out = []
    for _, g in curves.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        cum, reg = g["cum_cost"].to_numpy(), g["regret"].to_numpy()
        idx = np.searchsorted(cum, grid, side="right") - 1
        out.append(np.where(idx >= 0, reg[np.clip(idx, 0, None)], worst))
    return np.array(out)


def cumulative_regret_at(
    curves: pd.DataFrame, trials: pd.DataFrame, column: str, grid: np.ndarray, worst: float
) -> np.ndarray:
    """(repeats, len(grid)) regret once ``grid[j]`` of ``trials[column]`` (summed over trials) was spent."""
    spent = trials.sort_values(["repeat", "trial"]).assign(cum=lambda d: d.groupby("repeat")[column].cumsum())
    merged = curves.merge(
        spent[["repeat", "trial", "cum"]].assign(trial=lambda d: d["trial"] + 1), on=["repeat", "trial"]
    )
    return regret_at_cost(merged.assign(cum_cost=merged["cum"]), grid, worst)


def first_reaching(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per repeat: trials and cumulative cost until regret <= target (inf if never)."""
    rows = []
    for repeat, g in curves.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        hit = g[g["regret"] <= target + 1e-12]
        rows.append(
            (
                repeat,
                float(hit["trial"].iloc[0]) if len(hit) else np.inf,
                float(hit["cum_cost"].iloc[0]) if len(hit) else np.inf,
            )
        )
    return pd.DataFrame(rows, columns=["repeat", "trials", "cost"])


def mean_ranks(final_regret: pd.DataFrame) -> pd.Series:
    """``final_regret``: repeats x strategies; rank per repeat (1 = best, ties averaged), then mean."""
    return final_regret.rank(axis=1, method="average").mean(axis=0)


def found_front(trials: pd.DataFrame, truth: Truth) -> pd.DataFrame:
    """The true (seed-mean) points of the non-dominated evaluated networks."""
    archs = sorted(set(trials.loc[trials["state"] == "COMPLETE", "arch"]) & set(truth.nets.index))
    pts = truth.nets.loc[archs, ["val_error", "latency_ms"]]
    return pts[pareto_mask(pts.to_numpy())]


def repeats_per_study(trials: pd.DataFrame) -> pd.Series:
    """Per repeat: trials that evaluated a network already evaluated earlier in the study."""
    named = trials[trials["arch"].astype(str) != ""]
    return (
        named.groupby("repeat")["arch"]
        .agg(lambda a: len(a) - a.nunique())
        .reindex(sorted(trials["repeat"].unique()), fill_value=0)
    )


# --------------------------------------------------------------------------- a latency budget


def budget_truth(nets: pd.DataFrame, budget: float) -> tuple[set, float]:
    """Networks whose (seed-mean) latency meets ``budget`` and the best validation error among them."""
    ok = nets[nets["latency_ms"] <= budget + 1e-12]
    if ok.empty:
        raise ValueError(f"no network meets the latency budget {budget} ms")
    return set(ok.index), float(ok["val_error"].min())


def budget_curve(trials: pd.DataFrame, nets: pd.DataFrame, budget: float) -> pd.DataFrame:
    """Per (repeat, trial): regret of the incumbent among the evaluated networks meeting the budget.

    The incumbent is the feasible evaluated network with the lowest *observed*
    validation error; regret is its true error minus the best feasible true
    error; before any feasible network, the worst feasible regret. Feasible: the
    network's table latency <= budget (how MOTPE's front, or any strategy's trials,
    are read at the budget).
    """
    feasible, best = budget_truth(nets, budget)
    worst = float(nets.loc[sorted(feasible), "val_error"].max()) - best
    rows = []
    for repeat, g in trials.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        best_obs, inc = np.inf, None
        n_feasible = 0
        for t in g.itertuples(index=False):
            if t.state == "COMPLETE" and t.arch in feasible:
                n_feasible += 1
                if t.val_error < best_obs:
                    best_obs, inc = float(t.val_error), t.arch
            regret = worst if inc is None else float(nets.loc[inc, "val_error"]) - best
            rows.append((repeat, t.trial + 1, regret, n_feasible, inc or ""))
    return pd.DataFrame(rows, columns=["repeat", "trial", "regret", "n_feasible", "incumbent"])
