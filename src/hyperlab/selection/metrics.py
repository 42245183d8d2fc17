"""How a search went, measured against the table's known optimum and Pareto front.

- Simple regret after t trials: true (seed-mean) validation error of the
  incumbent -- the network with the lowest *observed* validation error so far --
  minus the best seed-mean validation error of the table. Before any trial
  completes it is the worst network's regret.
- Cumulative cost: the sum of the drawn rows' cost (inference latency by
  default) over the trials run; a failed lookup adds nothing.
- Hypervolume ratio: hypervolume of the evaluated networks' true
  (validation error, latency) points over that of the table's whole Pareto
  front. Both objectives are taken on a log scale (latency spans orders of
  magnitude; the interesting errors are a thin sliver near the best on a
  linear scale) and normalized to [0, 1] over the table; the reference point
  is (1.1, 1.1), so every network counts. Log scaling changes the weights of
  the area, never which points are Pareto-optimal.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from hyperlab.selection.benchmark import read_csv_table

REFERENCE = np.array([1.1, 1.1])


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """True for the points no other point dominates (minimization; duplicates all kept)."""
    pts = np.asarray(points, dtype=float)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    le = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)
    lt = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return ~dominated


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (both objectives minimized).

    Points that do not strictly dominate the reference contribute nothing.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    pts = pts[np.all(pts < reference, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]  # by first objective, then second
    area, y_prev = 0.0, float(reference[1])
    for x, y in pts:
        if y < y_prev:
            area += (reference[0] - x) * (y_prev - y)
            y_prev = y
    return float(area)


class Table(NamedTuple):
    """Per-network truth the metrics need."""
    nets: pd.DataFrame          # index arch: val_error, test_error, latency_ms (seed means)
    best_val: float
    worst_regret: float
    norm_points: pd.DataFrame   # index arch: normalized (error, log latency)
    front_hv: float


def table_truth(nets: pd.DataFrame) -> Table:
    err = nets["val_error"].to_numpy(float)
    logerr = np.log(np.maximum(err, 1e-6))
    loglat = np.log(nets["latency_ms"].to_numpy(float))

    def unit(v):
        span = v.max() - v.min()
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    norm = pd.DataFrame({"e": unit(logerr), "l": unit(loglat)}, index=nets.index)
    best = float(err.min())
    return Table(nets, best, float(err.max() - best), norm, hypervolume_2d(norm.to_numpy(), REFERENCE))


def trial_curves(trials: pd.DataFrame, truth: Table) -> pd.DataFrame:
    """One row per (repeat, trial): regret, cumulative cost, hypervolume ratio, incumbent's truth."""
    rows = []
    for repeat, g in trials.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        best_obs, inc, cum = np.inf, None, 0.0
        seen: dict[str, np.ndarray] = {}
        for t in g.itertuples(index=False):
            cum += float(t.cost) if np.isfinite(t.cost) else 0.0
            if t.state == "COMPLETE" and t.arch in truth.nets.index:
                if t.val_error < best_obs:
                    best_obs, inc = float(t.val_error), t.arch
                seen[t.arch] = truth.norm_points.loc[t.arch].to_numpy()
            hv = hypervolume_2d(np.array(list(seen.values())), REFERENCE) if seen else 0.0
            if inc is None:
                regret, test, lat = truth.worst_regret, np.nan, np.nan
            else:
                net = truth.nets.loc[inc]
                regret, test, lat = net.val_error - truth.best_val, net.test_error, net.latency_ms
            rows.append((repeat, t.trial + 1, regret, cum, hv / truth.front_hv, inc or "", test, lat))
    return pd.DataFrame(rows, columns=["repeat", "trial", "regret", "cum_cost", "hv_ratio", "incumbent",
                                       "test_error", "latency_ms"])


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


def first_reaching(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per repeat: trials and cumulative cost until regret <= target (inf if never)."""
    rows = []
    for repeat, g in curves.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        hit = g[g["regret"] <= target + 1e-12]
        rows.append((repeat, float(hit["trial"].iloc[0]) if len(hit) else np.inf,
                     float(hit["cum_cost"].iloc[0]) if len(hit) else np.inf))
    return pd.DataFrame(rows, columns=["repeat", "trials", "cost"])


def mean_ranks(final_regret: pd.DataFrame) -> pd.Series:
    """``final_regret``: repeats x strategies; rank per repeat (1 = best, ties averaged), then mean."""
    return final_regret.rank(axis=1, method="average").mean(axis=0)


def found_front(trials: pd.DataFrame, truth: Table) -> pd.DataFrame:
    """The true (seed-mean) points of the non-dominated evaluated networks."""
    archs = sorted(set(trials.loc[trials["state"] == "COMPLETE", "arch"]) & set(truth.nets.index))
    pts = truth.nets.loc[archs, ["val_error", "latency_ms"]]
    return pts[pareto_mask(pts.to_numpy())]


# --------------------------------------------------------------------------- statistics


def repeats_per_study(trials: pd.DataFrame) -> pd.Series:
    """Per repeat: trials that evaluated a network already evaluated earlier in the study."""
    named = trials[trials["arch"].astype(str) != ""]
    return named.groupby("repeat")["arch"].agg(lambda a: len(a) - a.nunique()).reindex(
        sorted(trials["repeat"].unique()), fill_value=0)


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values (``None`` entries are left out and kept).

    The k-th smallest p is multiplied by ``m - k + 1`` (k = 1..m), made monotone
    (running maximum) and capped at 1; reject at level a when the adjusted p <= a.
    """
    keys = [k for k, p in pvalues.items() if p is not None and np.isfinite(p)]
    order = sorted(keys, key=lambda k: pvalues[k])
    m, out, running = len(order), dict(pvalues), 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(pvalues[k])))
        out[k] = running
    return out


def win_tie_loss(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> tuple[int, int, int]:
    """Paired by repeat: how often ``a`` has the lower (better) value, the same, a higher one."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return int((d < -tol).sum()), int((np.abs(d) <= tol).sum()), int((d > tol).sum())


def paired_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p of the paired differences ``a - b`` (ties dropped; all tied: 1)."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.abs(d) > 1e-12]
    if len(d) == 0:
        return 1.0
    return float(wilcoxon(d, alternative=alternative).pvalue)


def pairwise_table(final: pd.DataFrame) -> pd.DataFrame:
    """Every ordered pair (a, b) of the columns of ``final`` (repeats x strategies, lower is better).

    Columns: wins / ties / losses of a against b by repeat, median of the paired
    differences a - b, the two-sided Wilcoxon p and its Holm adjustment over the
    unordered pairs (one family).
    """
    names = list(final.columns)
    raw = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            raw[(a, b)] = paired_p(final[a].to_numpy(), final[b].to_numpy())
    adj = holm(raw)
    rows = []
    for a in names:
        for b in names:
            if a == b:
                continue
            w, t, l_ = win_tie_loss(final[a].to_numpy(), final[b].to_numpy())
            key = (a, b) if (a, b) in raw else (b, a)
            rows.append({"a": a, "b": b, "wins": w, "ties": t, "losses": l_,
                         "median_diff": float(np.median(final[a].to_numpy() - final[b].to_numpy())),
                         "p_two_sided": raw[key], "p_holm": adj[key]})
    return pd.DataFrame(rows)


def bootstrap_median_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                        level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``values``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan
    idx = rng.integers(len(v), size=(n_boot, len(v)))
    med = np.median(v[idx], axis=1)
    lo, hi = np.quantile(med, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- front quality


def unit_scale(values: np.ndarray, log: bool) -> np.ndarray:
    """Map ``values`` to [0, 1] over their own range, after a log when ``log``."""
    v = np.log(np.maximum(np.asarray(values, dtype=float), 1e-12)) if log else np.asarray(values, dtype=float)
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def normalized_points(nets: pd.DataFrame, log: bool) -> pd.DataFrame:
    """(error, latency) of every network on [0, 1], log or linear axes."""
    return pd.DataFrame({"e": unit_scale(nets["val_error"].to_numpy(), log),
                         "l": unit_scale(nets["latency_ms"].to_numpy(), log)}, index=nets.index)


def igd_plus(found: np.ndarray, front: np.ndarray) -> float:
    """IGD+ (Ishibuchi et al. 2015): mean over the true front's points z of the distance
    ``min_a sqrt(sum_i max(a_i - z_i, 0)^2)`` to the found set (minimization; 0 = whole front found)."""
    found, front = np.asarray(found, float).reshape(-1, 2), np.asarray(front, float).reshape(-1, 2)
    if len(found) == 0:
        return np.inf
    d = np.sqrt((np.maximum(found[None, :, :] - front[:, None, :], 0.0) ** 2).sum(axis=2))
    return float(d.min(axis=1).mean())


def front_quality(archs: set, nets: pd.DataFrame, norms: dict[str, pd.DataFrame]) -> dict:
    """Quality of the evaluated networks ``archs`` as an (error, latency) front, four ways.

    ``hv_ratio_log`` / ``hv_ratio_linear``: hypervolume over the true front's, on
    log / linear normalized axes (reference 1.1, 1.1); ``front_share``: share of
    the true front's networks evaluated; ``igd_plus``: IGD+ on log normalized axes.
    """
    archs = sorted(set(archs) & set(nets.index))
    true = pareto_mask(nets[["val_error", "latency_ms"]].to_numpy())
    front_archs = set(nets.index[true])
    out = {}
    for name, norm in norms.items():
        pts = norm.loc[archs].to_numpy() if archs else np.zeros((0, 2))
        out[f"hv_ratio_{name}"] = hypervolume_2d(pts, REFERENCE) / hypervolume_2d(norm.to_numpy()[true], REFERENCE)
    out["front_share"] = len(front_archs & set(archs)) / len(front_archs)
    log_norm = norms["log"]
    out["igd_plus"] = igd_plus(log_norm.loc[archs].to_numpy() if archs else np.zeros((0, 2)),
                               log_norm.to_numpy()[true])
    return out


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


def cumulative_regret_at(curves: pd.DataFrame, trials: pd.DataFrame, column: str, grid: np.ndarray,
                         worst: float) -> np.ndarray:
    """(repeats, len(grid)) regret once ``grid[j]`` of ``trials[column]`` (summed over trials) was spent."""
    spent = trials.sort_values(["repeat", "trial"]).assign(cum=lambda d: d.groupby("repeat")[column].cumsum())
    merged = curves.merge(spent[["repeat", "trial", "cum"]].assign(trial=lambda d: d["trial"] + 1),
                          on=["repeat", "trial"])
    return regret_at_cost(merged.assign(cum_cost=merged["cum"]), grid, worst)


# --------------------------------------------------------------------------- the comparison


class Comparison(NamedTuple):
    tables: dict          # file name -> DataFrame (plots/search/<name>)
    metrics: dict         # the few headline numbers (metrics/search.json)
    report: dict          # every detail and verdict (plots/search/report.json)


def _wide(bands: dict[str, pd.DataFrame], x_name: str, x: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({x_name: x})
    for s, b in bands.items():
        out[s] = b["median"].to_numpy()
        out[f"{s}_q25"] = b["q25"].to_numpy()
        out[f"{s}_q75"] = b["q75"].to_numpy()
    return out


def _cost_bands(curves: dict, trials: dict, column: str, worst: float, n_grid: int):
    """Regret vs the cumulative sum of ``trials[column]`` (log grid); past a strategy's median total, NaN."""
    totals = {s: trials[s].groupby("repeat")[column].sum() for s in curves}
    firsts = [trials[s].loc[trials[s]["trial"] == 0, column] for s in curves]
    lo = max(min(float(f[f > 0].min()) if (f > 0).any() else 1.0 for f in firsts), 1e-12)
    hi = max(float(t.max()) for t in totals.values())
    grid = np.geomspace(lo, max(hi, lo * 1.01), n_grid)
    bands, at = {}, {}
    for s, c in curves.items():
        r = cumulative_regret_at(c, trials[s], column, grid, worst)
        q = np.quantile(r, [0.25, 0.5, 0.75], axis=0)
        q[:, grid > float(np.median(totals[s]))] = np.nan  # past the typical budget the curve is extrapolated
        bands[s] = pd.DataFrame({"q25": q[0], "median": q[1], "q75": q[2]})
        at[s] = r
    return grid, bands, at, totals


def _ci(values, n_boot, rng):
    lo, hi = bootstrap_median_ci(np.asarray(values, float), n_boot, rng)
    return {"median": float(np.median(values)), "ci_low": lo, "ci_high": hi}


def _vs_baseline(final: pd.DataFrame, baseline: str) -> dict:
    """One-sided paired Wilcoxon 'lower than the baseline' per strategy, Holm-adjusted as one family."""
    raw = {s: (paired_p(final[s].to_numpy(), final[baseline].to_numpy(), "less") if s != baseline else None)
           for s in final.columns}
    return {s: (raw[s], p) for s, p in holm(raw).items()}


def _budget_reading(trials: dict, nets: pd.DataFrame, budget: float, n_trials: int) -> pd.DataFrame:
    """repeats x strategies: final regret of the best evaluated network meeting the budget."""
    out = {}
    for s, df in trials.items():
        c = budget_curve(df, nets, budget)
        out[s] = c[c["trial"] == n_trials].set_index("repeat")["regret"]
    return pd.DataFrame(out)


def _remeasured(nets: pd.DataFrame, table: pd.DataFrame | None,
                extra: dict[str, pd.Series] | None = None) -> dict[str, pd.DataFrame]:
    """Per independent latency measurement: the networks with that measurement's latency.

    ``mean``: the table's seed mean (what the searches saw); ``seed<k>``: the
    latency timed on the copy trained with seed k alone -- an independent timing
    of the same network (the models are timed one by one in random order);
    ``extra``: further measurements by name (e.g. the ``latency`` stage's rounds).
    """
    out = {"mean": nets}
    for name, lat in (extra or {}).items():
        out[name] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy(float))
    if table is None:
        return out
    ok = table[table["status"] == "ok"]
    for seed, g in ok.groupby("seed"):
        lat = g.groupby("arch")["latency_ms"].mean()
        if set(lat.index) >= set(nets.index):
            out[f"seed{int(seed)}"] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy())
    return out


def compare(trials: dict[str, pd.DataFrame], nets: pd.DataFrame, target_quantile: float = 0.05,
            n_grid: int = 60, baseline: str = "random_uniform", pareto_strategy: str = "motpe",
            budget_quantile: float = 0.5, n_bootstrap: int = 2000, seed: int = 0,
            table: pd.DataFrame | None = None, remeasurements: dict[str, pd.Series] | None = None) -> Comparison:
    """Aggregate every strategy's trials into the plot data, the headline metrics and the report.

    ``target_quantile``: the target regret is that of the network at this
    quantile of the table's validation errors (0.05: "in the best 5 %"); the
    trials and cumulative cost each repeat needs to reach it are reported.
    ``budget_quantile``: the latency budget is this quantile of the networks'
    latencies. ``table``: the raw candidate table (its per-seed latencies are
    independent re-measurements the latency verdicts are checked against);
    ``remeasurements``: more of them (name -> latency per arch).
    """
    from hyperlab.selection.benchmark import latency_budget

    rng = np.random.default_rng(seed)
    if baseline not in trials:
        baseline = next(iter(trials))
    truth = table_truth(nets)
    target = float(np.quantile(nets["val_error"], target_quantile) - truth.best_val)
    trials = {s: df.assign(train_seconds=df["train_seconds"] if "train_seconds" in df else df["cost"])
              for s, df in trials.items()}
    curves = {s: trial_curves(df, truth) for s, df in trials.items()}
    n_trials = min(int(c["trial"].max()) for c in curves.values())
    curves = {s: c[c["trial"] <= n_trials] for s, c in curves.items()}
    trials = {s: df[df["trial"] < n_trials] for s, df in trials.items()}
    trial_axis = np.arange(1, n_trials + 1)
    tables = {"regret_vs_trial.csv": _wide({s: band(c, "regret") for s, c in curves.items()}, "trial", trial_axis),
              "hypervolume_vs_trial.csv": _wide({s: band(c, "hv_ratio") for s, c in curves.items()}, "trial",
                                                trial_axis)}

    # Snoek's setting: regret vs cumulative training seconds
    grid, tbands, _, train_totals = _cost_bands(curves, trials, "train_seconds", truth.worst_regret, n_grid)
    tables["regret_vs_train_seconds.csv"] = _wide(tbands, "train_seconds", grid)

    final_regret = pd.DataFrame({s: c[c["trial"] == n_trials].set_index("repeat")["regret"]
                                 for s, c in curves.items()})
    ranks = mean_ranks(final_regret.dropna())
    vs_base = _vs_baseline(final_regret, baseline)
    pairwise = pairwise_table(final_regret)
    tables["pairwise.csv"] = pairwise

    # a latency budget (the user's setting), read on every strategy's trials
    budget = latency_budget(nets, budget_quantile)
    feasible, best_feasible = budget_truth(nets, budget)
    bcurves = {s: budget_curve(df, nets, budget) for s, df in trials.items()}
    tables["budget_regret_vs_trial.csv"] = _wide({s: band(c, "regret") for s, c in bcurves.items()}, "trial",
                                                 trial_axis)
    budget_final = pd.DataFrame({s: c[c["trial"] == n_trials].set_index("repeat")["regret"]
                                 for s, c in bcurves.items()})
    budget_vs_base = _vs_baseline(budget_final, baseline)
    tables["budget_pairwise.csv"] = pairwise_table(budget_final)

    # front quality, four ways, per repeat
    norms = {"log": normalized_points(nets, True), "linear": normalized_points(nets, False)}
    fq = []
    for s, df in trials.items():
        for repeat, g in df.groupby("repeat"):
            archs = set(g.loc[g["state"] == "COMPLETE", "arch"])
            fq.append({"strategy": s, "repeat": repeat, **front_quality(archs, nets, norms)})
    fq = pd.DataFrame(fq)
    fq_cols = ["hv_ratio_log", "hv_ratio_linear", "front_share", "igd_plus"]

    rows = []
    for s, c in curves.items():
        last = c[c["trial"] == n_trials]
        reach = first_reaching(c, target)
        reps = repeats_per_study(trials[s])
        ci = _ci(last["regret"], n_bootstrap, rng)
        bci = _ci(budget_final[s], n_bootstrap, rng)
        f = fq[fq["strategy"] == s]
        row = {"strategy": s, "repeats": int(last["repeat"].nunique()),
               "median_regret": ci["median"], "regret_ci_low": ci["ci_low"], "regret_ci_high": ci["ci_high"],
               "regret_q25": float(last["regret"].quantile(0.25)),
               "regret_q75": float(last["regret"].quantile(0.75)),
               "p_less_regret_than_baseline": vs_base[s][0], "p_holm": vs_base[s][1],
               "mean_rank": float(ranks.get(s, np.nan)),
               "repeats_per_study": float(reps.mean()), "max_repeats_in_a_study": int(reps.max()),
               "median_test_error": float(last["test_error"].median()),
               "median_latency_ms": float(last["latency_ms"].median()),
               "median_train_seconds_total": float(train_totals[s].median()),
               "reached_target": float(np.isfinite(reach["trials"]).mean()),
               "median_trials_to_target": float(np.median(reach["trials"])),
               "budget_median_regret": bci["median"], "budget_regret_ci_low": bci["ci_low"],
               "budget_regret_ci_high": bci["ci_high"],
               "budget_found_best": float((budget_final[s] <= 1e-12).mean()),
               "budget_p_holm": budget_vs_base[s][1],
               "feasible_share_of_trials": float(trials[s]["arch"].isin(feasible).mean()),
               **{f"median_{k}": float(f[k].median()) for k in fq_cols},
               "failed_trials": int((trials[s]["state"] != "COMPLETE").sum())}
        rows.append(row)
    final = pd.DataFrame(rows)
    tables["final.csv"] = final
    fq_summary = []
    for k in fq_cols:
        for s in trials:
            v = fq.loc[fq["strategy"] == s, k].to_numpy()
            fq_summary.append({"metric": k, "strategy": s, **_ci(v, n_bootstrap, rng)})
    tables["front_quality.csv"] = pd.DataFrame(fq_summary)

    # latency verdicts against independent latency measurements
    rem = []
    for name, m_nets in _remeasured(nets, table, remeasurements).items():
        m_budget = latency_budget(m_nets, budget_quantile)
        m_final = _budget_reading(trials, m_nets, m_budget, n_trials)
        m_norms = {"log": normalized_points(m_nets, True), "linear": normalized_points(m_nets, False)}
        for s, df in trials.items():
            q = [front_quality(set(g.loc[g["state"] == "COMPLETE", "arch"]), m_nets, m_norms)
                 for _, g in df.groupby("repeat")]
            rem.append({"measurement": name, "strategy": s, "budget_ms": m_budget,
                        "budget_median_regret": float(m_final[s].median()),
                        "budget_mean_regret": float(m_final[s].mean()),
                        **{f"median_{k}": float(np.median([x[k] for x in q])) for k in fq_cols}})
    rem = pd.DataFrame(rem)
    tables["remeasured.csv"] = rem

    true_front = nets.loc[pareto_mask(nets[["val_error", "latency_ms"]].to_numpy()), ["val_error", "latency_ms"]]
    parts = [nets[["val_error", "latency_ms"]].assign(kind="table"), true_front.assign(kind="true_front")]
    if pareto_strategy in curves:
        c = curves[pareto_strategy]
        last = c[c["trial"] == n_trials].sort_values(["hv_ratio", "repeat"])
        median_repeat = int(last["repeat"].iloc[len(last) // 2])
        df = trials[pareto_strategy]
        found = found_front(df[df["repeat"] == median_repeat], truth)
        parts.append(found.assign(kind=f"{pareto_strategy}_front"))
    tables["pareto.csv"] = pd.concat(parts).rename_axis("arch").reset_index()[["kind", "arch", "val_error",
                                                                                "latency_ms"]]

    report = {"n_trials": n_trials, "networks": int(len(nets)), "best_val_error": truth.best_val,
              "best_arch": str(nets["val_error"].idxmin()), "target_regret": target,
              "target_quantile": target_quantile, "true_front_size": int(len(true_front)),
              "baseline": baseline, "latency_budget_ms": budget, "budget_quantile": budget_quantile,
              "best_feasible_val_error": best_feasible, "best_feasible_arch":
                  str(nets.loc[sorted(feasible), "val_error"].idxmin()), "n_feasible": len(feasible),
              "n_bootstrap": n_bootstrap,
              "strategies": {r["strategy"]: {k: v for k, v in r.items() if k != "strategy"} for r in rows},
              "verdicts": verdicts(final, fq, rem, tbands, grid, train_totals, pareto_strategy, fq_cols)}
    metrics = headline(report)
    return Comparison(tables, metrics, report)


def _median_at(bands: dict, grid: np.ndarray, s: str, x: float) -> float:
    j = int(np.searchsorted(grid, x, side="right") - 1)
    return float(bands[s]["median"].iloc[max(j, 0)])


def verdicts(final: pd.DataFrame, fq: pd.DataFrame, rem: pd.DataFrame, tbands: dict, grid: np.ndarray,
             train_totals: dict, pareto_strategy: str, fq_cols: list[str]) -> dict:
    """One sentence with numbers per question the study answers."""
    f = final.set_index("strategy")
    out = {}
    # Snoek's setting: regret at a common training-time budget (the smallest median total, so no extrapolation)
    for plain, ps in (("gp_ei", "gp_ei_per_second"), ("tpe", "tpe_per_second")):
        if plain in tbands and ps in tbands:
            x = min(float(np.median(train_totals[plain])), float(np.median(train_totals[ps])))
            a, b = _median_at(tbands, grid, ps, x), _median_at(tbands, grid, plain, x)
            word = "lower than" if a < b - 1e-12 else ("higher than" if a > b + 1e-12 else "the same as")
            out[f"{ps}_vs_{plain}_train_time"] = (
                f"after {x:.2f} s of cumulative training, {ps} has median regret {a:.4f}, {word} "
                f"{plain}'s {b:.4f} (same 40-trial budget: {f.loc[ps, 'median_regret']:.4f} vs "
                f"{f.loc[plain, 'median_regret']:.4f}; total training {np.median(train_totals[ps]):.2f} s vs "
                f"{np.median(train_totals[plain]):.2f} s)")
    # the user's setting: best network under the latency budget
    order = f.sort_values(["budget_median_regret", "budget_found_best"], ascending=[True, False])
    best = order.index[0]
    out["latency_budget"] = (
        f"under the latency budget, {best} has the lowest median regret {order.iloc[0]['budget_median_regret']:.4f} "
        f"(found the best feasible network in {order.iloc[0]['budget_found_best']:.0%} of repeats); "
        + ", ".join(f"{s} {order.loc[s, 'budget_median_regret']:.4f}" for s in order.index[1:]))
    # front quality per metric, MOTPE's place
    if pareto_strategy in f.index:
        parts = []
        for k in fq_cols:
            col = f[f"median_{k}"]
            better_low = k == "igd_plus"
            ranked = col.sort_values(ascending=better_low)
            place = list(ranked.index).index(pareto_strategy) + 1
            parts.append(f"{k}: {pareto_strategy} {col[pareto_strategy]:.3f}, rank {place}/{len(col)} "
                         f"(best {ranked.index[0]} {ranked.iloc[0]:.3f})")
        out["motpe_front"] = "; ".join(parts)
    # stability under re-measured latency
    stab = {}
    for k, low in (("budget_median_regret", True), ("median_hv_ratio_log", False), ("median_front_share", False)):
        bests = {}
        for name, g in rem.groupby("measurement", sort=False):
            g = g.set_index("strategy")[k]
            bests[name] = (g.idxmin() if low else g.idxmax(), float(g.min() if low else g.max()))
        names = {b[0] for b in bests.values()}
        stab[k] = ("stable" if len(names) == 1 else "NOT stable") + ": best " + "; ".join(
            f"{m}: {b[0]} {b[1]:.4f}" for m, b in bests.items())
    out["remeasured"] = stab
    return out


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


# --------------------------------------------------------------------------- reading the trials back


class TrialsError(ValueError):
    """A search CSV (``data/search/<strategy>.csv``) is missing, malformed or does not match the params."""


TRIAL_COLUMNS = ("strategy", "repeat", "trial", "state", "arch", "val_error", "latency_ms", "test_error", "cost")
FINISHED_STATES = ("COMPLETE", "FAIL", "PRUNED")


def validate_trials(frame: pd.DataFrame, name: str, strategy: str, repeats: int, n_trials: int,
                    archs) -> pd.DataFrame:
    """Check a search CSV against the params and the table; one :class:`TrialsError` line otherwise.

    Every repeat ``0..repeats-1`` must hold trials ``0..n_trials-1`` once each,
    every COMPLETE trial a network of the table with finite, in-range values
    (an ``inf`` would make a regret or hypervolume silently wrong).
    """
    missing = [c for c in TRIAL_COLUMNS if c not in frame.columns]
    if missing:
        raise TrialsError(f"{name}: lacks column(s) {missing}; rerun search@{strategy}")
    for col in ("repeat", "trial"):
        if not pd.api.types.is_integer_dtype(frame[col]):
            raise TrialsError(f"{name}: column {col} must hold whole numbers on every row; rerun search@{strategy}")
    for col in ("val_error", "latency_ms", "test_error", "cost"):
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            raise TrialsError(f"{name}: column {col} must hold numbers; rerun search@{strategy}")
    if (frame["strategy"] != strategy).any():
        other = frame.loc[frame["strategy"] != strategy, "strategy"].iloc[0]
        raise TrialsError(f"{name}: holds trials of strategy {other!r}, expected {strategy!r}")
    bad = ~frame["state"].isin(FINISHED_STATES)
    if bad.any():
        raise TrialsError(f"{name}: state {frame.loc[bad, 'state'].iloc[0]!r} is not one of "
                          f"{', '.join(FINISHED_STATES)}")
    expected = pd.MultiIndex.from_product([range(repeats), range(n_trials)], names=["repeat", "trial"])
    got = pd.MultiIndex.from_frame(frame[["repeat", "trial"]])
    if len(got) != len(expected) or got.has_duplicates or not got.sort_values().equals(expected):
        counts = frame.groupby("repeat")["trial"].nunique() if len(frame) else pd.Series(dtype=int)
        raise TrialsError(f"{name}: has {frame['repeat'].nunique()} repeats of {sorted(set(counts))} trials "
                          f"({len(frame)} rows), params ask {repeats} x {n_trials}; rerun search@{strategy}")
    ok = frame["state"] == "COMPLETE"
    for col, low, high in (("val_error", 0, 1), ("test_error", 0, 1), ("latency_ms", 0, np.inf),
                           ("cost", 0, np.inf)):
        v = frame[col].astype(float)
        bad = ok & ~(np.isfinite(v) & (v >= low) & (v <= high))
        if col == "latency_ms":
            bad |= ok & (v <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise TrialsError(f"{name}: row {i + 2}: a COMPLETE trial has {col} = {frame[col].iloc[i]!r}; "
                              f"must be finite, {low}..{high}")
    unknown = ok & ~frame["arch"].astype(str).isin(set(archs))
    if unknown.any():
        raise TrialsError(f"{name}: network {frame.loc[unknown, 'arch'].iloc[0]!r} is not in the candidate table; "
                          f"rerun search@{strategy}")
    return frame


def load_latency(path, archs) -> dict[str, pd.Series]:
    """``data/latency.csv`` (arch, round, latency_ms) as ``{"round<k>": latency per arch}``; checked."""
    frame = read_csv_table(path, TrialsError, "run `python stages/latency.py` first", "rerun the latency stage",
                           dtype={"arch": str})
    missing = [c for c in ("arch", "round", "latency_ms") if c not in frame.columns]
    if missing:
        raise TrialsError(f"{path}: lacks column(s) {missing}; rerun the latency stage")
    lat = pd.to_numeric(frame["latency_ms"], errors="coerce")
    if not (np.isfinite(lat) & (lat > 0)).all():
        raise TrialsError(f"{path}: every latency_ms must be a finite number > 0; rerun the latency stage")
    out = {}
    for r, g in frame.assign(latency_ms=lat).groupby("round", sort=True):
        series = g.set_index("arch")["latency_ms"]
        if series.index.has_duplicates or not set(archs) <= set(series.index):
            raise TrialsError(f"{path}: round {r} does not time every network of the table once; "
                              "rerun the latency stage")
        out[f"round{r}"] = series
    return out


def load_trials(path, strategy: str, repeats: int, n_trials: int, archs) -> pd.DataFrame:
    """``data/search/<strategy>.csv`` read and checked (:func:`validate_trials`)."""
    frame = read_csv_table(path, TrialsError, f"run `python stages/search.py {strategy}` first",
                           f"rerun search@{strategy}", dtype={"arch": str, "strategy": str, "state": str})
    return validate_trials(frame, str(path), strategy, repeats, n_trials, archs)
