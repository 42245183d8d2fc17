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


# --------------------------------------------------------------------------- the comparison


class Comparison(NamedTuple):
    regret_vs_trial: pd.DataFrame
    regret_vs_cost: pd.DataFrame
    hypervolume_vs_trial: pd.DataFrame
    final: pd.DataFrame
    pareto: pd.DataFrame
    metrics: dict


def _wide(bands: dict[str, pd.DataFrame], x_name: str, x: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({x_name: x})
    for s, b in bands.items():
        out[s] = b["median"].to_numpy()
        out[f"{s}_q25"] = b["q25"].to_numpy()
        out[f"{s}_q75"] = b["q75"].to_numpy()
    return out


def compare(trials: dict[str, pd.DataFrame], nets: pd.DataFrame, target_quantile: float = 0.05,
            n_grid: int = 60, baseline: str = "random", pareto_strategy: str = "motpe") -> Comparison:
    """Aggregate every strategy's trials into the plot data and headline metrics.

    ``target_quantile``: the target regret is that of the network at this
    quantile of the table's validation errors (0.05: "in the best 5 %"); the
    trials and cumulative cost each repeat needs to reach it are reported.
    """
    from scipy.stats import mannwhitneyu

    truth = table_truth(nets)
    target = float(np.quantile(nets["val_error"], target_quantile) - truth.best_val)
    curves = {s: trial_curves(df, truth) for s, df in trials.items()}
    n_trials = min(int(c["trial"].max()) for c in curves.values())
    curves = {s: c[c["trial"] <= n_trials] for s, c in curves.items()}
    trial_axis = np.arange(1, n_trials + 1)

    regret_trial = _wide({s: band(c, "regret") for s, c in curves.items()}, "trial", trial_axis)
    hv_trial = _wide({s: band(c, "hv_ratio") for s, c in curves.items()}, "trial", trial_axis)

    totals = {s: c.groupby("repeat")["cum_cost"].max() for s, c in curves.items()}
    first_costs = [c.loc[c["trial"] == 1, "cum_cost"] for c in curves.values()]
    lo = max(min(float(f[f > 0].min()) if (f > 0).any() else 1.0 for f in first_costs), 1e-12)
    hi = max(float(t.max()) for t in totals.values())
    grid = np.geomspace(lo, max(hi, lo * 1.01), n_grid)
    cost_bands = {}
    for s, c in curves.items():
        r = regret_at_cost(c, grid, truth.worst_regret)
        q = np.quantile(r, [0.25, 0.5, 0.75], axis=0)
        beyond = grid > float(np.median(totals[s]))  # past the typical budget the curve is extrapolated
        q[:, beyond] = np.nan
        cost_bands[s] = pd.DataFrame({"q25": q[0], "median": q[1], "q75": q[2]})
    regret_cost = _wide(cost_bands, "cost", grid)

    final_regret = pd.DataFrame({s: c[c["trial"] == n_trials].set_index("repeat")["regret"]
                                 for s, c in curves.items()})
    ranks = mean_ranks(final_regret.dropna())
    rows, per_strategy = [], {}
    for s, c in curves.items():
        last = c[c["trial"] == n_trials]
        reach = first_reaching(c, target)
        p_value = None
        if s != baseline and baseline in final_regret:
            p_value = float(mannwhitneyu(final_regret[s], final_regret[baseline], alternative="less").pvalue)
        row = {"strategy": s, "repeats": int(last["repeat"].nunique()),
               "median_regret": float(last["regret"].median()),
               "regret_q25": float(last["regret"].quantile(0.25)),
               "regret_q75": float(last["regret"].quantile(0.75)),
               "median_test_error": float(last["test_error"].median()),
               "median_latency_ms": float(last["latency_ms"].median()),
               "median_hv_ratio": float(last["hv_ratio"].median()),
               "mean_rank": float(ranks.get(s, np.nan)),
               "median_total_cost": float(totals[s].median()),
               "reached_target": float(np.isfinite(reach["trials"]).mean()),
               "median_trials_to_target": float(np.median(reach["trials"])),
               "median_cost_to_target": float(np.median(reach["cost"])),
               "p_less_regret_than_baseline": p_value,
               "failed_trials": int((trials[s]["state"] != "COMPLETE").sum())}
        rows.append(row)
        per_strategy[s] = {k: v for k, v in row.items() if k != "strategy"}
    final = pd.DataFrame(rows)

    true_front = nets.loc[pareto_mask(nets[["val_error", "latency_ms"]].to_numpy()), ["val_error", "latency_ms"]]
    parts = [nets[["val_error", "latency_ms"]].assign(kind="table"), true_front.assign(kind="true_front")]
    if pareto_strategy in curves:
        c = curves[pareto_strategy]
        last = c[c["trial"] == n_trials].sort_values(["hv_ratio", "repeat"])
        median_repeat = int(last["repeat"].iloc[len(last) // 2])
        df = trials[pareto_strategy]
        found = found_front(df[(df["repeat"] == median_repeat) & (df["trial"] < n_trials)], truth)
        parts.append(found.assign(kind=f"{pareto_strategy}_front"))
    pareto = pd.concat(parts).rename_axis("arch").reset_index()[["kind", "arch", "val_error", "latency_ms"]]

    metrics = {"n_trials": n_trials, "networks": int(len(nets)), "best_val_error": truth.best_val,
               "best_arch": str(nets["val_error"].idxmin()), "target_regret": target,
               "target_quantile": target_quantile, "true_front_size": int(len(true_front)),
               "strategies": per_strategy}
    return Comparison(regret_trial, regret_cost, hv_trial, final, pareto, metrics)


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


def load_trials(path, strategy: str, repeats: int, n_trials: int, archs) -> pd.DataFrame:
    """``data/search/<strategy>.csv`` read and checked (:func:`validate_trials`)."""
    try:
        frame = pd.read_csv(path, dtype={"arch": str, "strategy": str, "state": str})
    except FileNotFoundError:
        raise TrialsError(f"{path}: not found; run `python stages/search.py {strategy}` first") from None
    except pd.errors.EmptyDataError:
        raise TrialsError(f"{path}: empty file; rerun search@{strategy}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise TrialsError(f"{path}: not a readable CSV table ({' '.join(str(err).split())[:200]})") from None
    except OSError as err:
        raise TrialsError(f"{path}: cannot read ({err.strerror or err})") from None
    return validate_trials(frame, str(path), strategy, repeats, n_trials, archs)
