"""The comparison of the search strategies: every strategy's trials into plot data, a report, headline numbers.

:func:`compare` reads each strategy's repeats against the table's truth
(:mod:`~hyperlab.selection.analysis.regret`, :mod:`~hyperlab.selection.analysis.fronts`), pairs
the strategies by repeat (:mod:`~hyperlab.selection.analysis.stats`) and re-reads every
latency verdict with independent latency measurements; :func:`run` is the
``compare`` stage, on the :class:`Searches` its script read and checked.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hyperlab.report import Result
from hyperlab.selection.analysis.fronts import front_quality, normalized_points, true_front
from hyperlab.selection.analysis.regret import (
    band,
    budget_curve,
    budget_truth,
    cumulative_regret_at,
    first_reaching,
    found_front,
    mean_ranks,
    repeats_per_study,
    table_truth,
    trial_curves,
)
from hyperlab.selection.analysis.stats import median_ci, pairwise_table, vs_baseline
from hyperlab.selection.analysis.verdicts import headline, verdicts
from hyperlab.selection.table.table import Table, latency_budget

FRONT_METRICS = ["hv_ratio_log", "hv_ratio_linear", "front_share", "igd_plus"]


def _wide(bands: dict[str, pd.DataFrame], x_name: str, x: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({x_name: x})
    for s, b in bands.items():
        out[s] = b["median"].to_numpy()
        out[f"{s}_q25"] = b["q25"].to_numpy()
        out[f"{s}_q75"] = b["q75"].to_numpy()
    return out


def _final(curves: dict[str, pd.DataFrame], n_trials: int) -> pd.DataFrame:
    """repeats x strategies: the regret after ``n_trials`` trials."""
    return pd.DataFrame({s: c[c["trial"] == n_trials].set_index("repeat")["regret"] for s, c in curves.items()})


def _cost_bands(curves: dict, trials: dict, column: str, worst: float, n_grid: int):
    """Regret vs the cumulative sum of ``trials[column]`` (log grid); past a strategy's median total, NaN."""
    totals = {s: trials[s].groupby("repeat")[column].sum() for s in curves}
    firsts = [trials[s].loc[trials[s]["trial"] == 0, column] for s in curves]
    lo = max(min(float(f[f > 0].min()) if (f > 0).any() else 1.0 for f in firsts), 1e-12)
    hi = max(float(t.max()) for t in totals.values())
    grid = np.geomspace(lo, max(hi, lo * 1.01), n_grid)
    bands = {}
    for s, c in curves.items():
        r = cumulative_regret_at(c, trials[s], column, grid, worst)
        q = np.quantile(r, [0.25, 0.5, 0.75], axis=0)
        q[:, grid > float(np.median(totals[s]))] = np.nan  # past the typical budget the curve is extrapolated
        bands[s] = pd.DataFrame({"q25": q[0], "median": q[1], "q75": q[2]})
    return grid, bands, totals


def _norms(nets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"log": normalized_points(nets, True), "linear": normalized_points(nets, False)}


def _evaluated(repeat_trials: pd.DataFrame) -> set:
    return set(repeat_trials.loc[repeat_trials["state"] == "COMPLETE", "arch"])


def _front_quality(trials: dict, nets: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, repeat): the four front metrics of the networks it evaluated."""
    norms = _norms(nets)
    return pd.DataFrame(
        [
            {"strategy": s, "repeat": repeat, **front_quality(_evaluated(g), nets, norms)}
            for s, df in trials.items()
            for repeat, g in df.groupby("repeat")
        ]
    )


def _remeasured(
    nets: pd.DataFrame, rows: pd.DataFrame | None, extra: dict[str, pd.Series] | None = None
) -> dict[str, pd.DataFrame]:
    """Per independent latency measurement: the networks with that measurement's latency.

    ``mean``: the table's seed mean (what the searches saw); ``seed<k>``: the
    latency timed on the copy trained with seed k alone -- an independent timing
    of the same network (the models are timed one by one in random order);
    ``extra``: further measurements by name (e.g. the ``latency`` stage's rounds).
    """
    out = {"mean": nets}
    for name, lat in (extra or {}).items():
        out[name] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy(float))
    if rows is None:
        return out
    ok = rows[rows["status"] == "ok"]
    for seed, g in ok.groupby("seed"):
        lat = g.groupby("arch")["latency_ms"].mean()
        if set(lat.index) >= set(nets.index):
            out[f"seed{int(seed)}"] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy())
    return out


def _remeasured_rows(
    trials: dict, measured: dict[str, pd.DataFrame], budget_quantile: float, n_trials: int
) -> pd.DataFrame:
    """Per (measurement, strategy): the budget regret and the front metrics under that measurement's latency."""
    rows = []
    for name, m_nets in measured.items():
        m_budget = latency_budget(m_nets, budget_quantile)
        m_final = _final({s: budget_curve(df, m_nets, m_budget) for s, df in trials.items()}, n_trials)
        m_norms = _norms(m_nets)
        for s, df in trials.items():
            q = [front_quality(_evaluated(g), m_nets, m_norms) for _, g in df.groupby("repeat")]
            rows.append(
                {
                    "measurement": name,
                    "strategy": s,
                    "budget_ms": m_budget,
                    "budget_median_regret": float(m_final[s].median()),
                    "budget_mean_regret": float(m_final[s].mean()),
                    **{f"median_{k}": float(np.median([x[k] for x in q])) for k in FRONT_METRICS},
                }
            )
    return pd.DataFrame(rows)


def _pareto_table(
    nets: pd.DataFrame, truth, curves: dict, trials: dict, pareto_strategy: str, n_trials: int
) -> pd.DataFrame:
    """Every network, the true front and (if run) ``pareto_strategy``'s front of its median-hypervolume repeat."""
    front = nets.loc[true_front(nets), ["val_error", "latency_ms"]]
    parts = [nets[["val_error", "latency_ms"]].assign(kind="table"), front.assign(kind="true_front")]
    if pareto_strategy in curves:
        c = curves[pareto_strategy]
        last = c[c["trial"] == n_trials].sort_values(["hv_ratio", "repeat"])
        median_repeat = int(last["repeat"].iloc[len(last) // 2])
        df = trials[pareto_strategy]
        found = found_front(df[df["repeat"] == median_repeat], truth)
        parts.append(found.assign(kind=f"{pareto_strategy}_front"))
    return pd.concat(parts).rename_axis("arch").reset_index()[["kind", "arch", "val_error", "latency_ms"]]


def compare(
    trials: dict[str, pd.DataFrame],
    nets: pd.DataFrame,
    target_quantile: float = 0.05,
    n_grid: int = 60,
    baseline: str = "random_uniform",
    pareto_strategy: str = "motpe",
    budget_quantile: float = 0.5,
    n_bootstrap: int = 2000,
    seed: int = 0,
    table_rows: pd.DataFrame | None = None,
    remeasurements: dict[str, pd.Series] | None = None,
) -> Result:
    """Aggregate every strategy's trials into the plot data, the headline metrics and the report.

    ``nets``: the table's per-network truth (:attr:`~hyperlab.selection.table.table.Table.nets`).
    ``target_quantile``: the target regret is that of the network at this
    quantile of the table's validation errors (0.05: "in the best 5 %"); the
    trials and cumulative cost each repeat needs to reach it are reported.
    ``budget_quantile``: the latency budget is this quantile of the networks'
    latencies. ``table_rows``: the table's rows (:attr:`~hyperlab.selection.table.table.Table.rows`: their
    per-seed latencies are independent re-measurements the latency verdicts are checked against);
    ``remeasurements``: more of them (name -> latency per arch).
    """
    rng = np.random.default_rng(seed)
    if baseline not in trials:
        baseline = next(iter(trials))
    truth = table_truth(nets)
    target = float(np.quantile(nets["val_error"], target_quantile) - truth.best_val)
    trials = {
        s: df.assign(train_seconds=df["train_seconds"] if "train_seconds" in df else df["cost"])
        for s, df in trials.items()
    }
    curves = {s: trial_curves(df, truth) for s, df in trials.items()}
    n_trials = min(int(c["trial"].max()) for c in curves.values())
    curves = {s: c[c["trial"] <= n_trials] for s, c in curves.items()}
    trials = {s: df[df["trial"] < n_trials] for s, df in trials.items()}
    trial_axis = np.arange(1, n_trials + 1)
    tables = {
        "regret_vs_trial.csv": _wide({s: band(c, "regret") for s, c in curves.items()}, "trial", trial_axis),
        "hypervolume_vs_trial.csv": _wide({s: band(c, "hv_ratio") for s, c in curves.items()}, "trial", trial_axis),
    }

    # Snoek's setting: regret vs cumulative training seconds
    grid, tbands, train_totals = _cost_bands(curves, trials, "train_seconds", truth.worst_regret, n_grid)
    tables["regret_vs_train_seconds.csv"] = _wide(tbands, "train_seconds", grid)

    final_regret = _final(curves, n_trials)
    ranks = mean_ranks(final_regret.dropna())
    vs_base = vs_baseline(final_regret, baseline)
    tables["pairwise.csv"] = pairwise_table(final_regret)

    # a latency budget (the user's setting), read on every strategy's trials
    budget = latency_budget(nets, budget_quantile)
    feasible, best_feasible = budget_truth(nets, budget)
    bcurves = {s: budget_curve(df, nets, budget) for s, df in trials.items()}
    tables["budget_regret_vs_trial.csv"] = _wide(
        {s: band(c, "regret") for s, c in bcurves.items()}, "trial", trial_axis
    )
    budget_final = _final(bcurves, n_trials)
    budget_vs_base = vs_baseline(budget_final, baseline)
    tables["budget_pairwise.csv"] = pairwise_table(budget_final)

    fq = _front_quality(trials, nets)  # front quality, four ways, per repeat
    rows = []
    for s, c in curves.items():
        last = c[c["trial"] == n_trials]
        reach = first_reaching(c, target)
        reps = repeats_per_study(trials[s])
        ci = median_ci(last["regret"], n_bootstrap, rng)
        bci = median_ci(budget_final[s], n_bootstrap, rng)
        f = fq[fq["strategy"] == s]
        rows.append(
            {
                "strategy": s,
                "repeats": int(last["repeat"].nunique()),
                "median_regret": ci["median"],
                "regret_ci_low": ci["ci_low"],
                "regret_ci_high": ci["ci_high"],
                "regret_q25": float(last["regret"].quantile(0.25)),
                "regret_q75": float(last["regret"].quantile(0.75)),
                "p_less_regret_than_baseline": vs_base[s][0],
                "p_holm": vs_base[s][1],
                "mean_rank": float(ranks.get(s, np.nan)),
                "repeats_per_study": float(reps.mean()),
                "max_repeats_in_a_study": int(reps.max()),
                "median_test_error": float(last["test_error"].median()),
                "median_latency_ms": float(last["latency_ms"].median()),
                "median_train_seconds_total": float(train_totals[s].median()),
                "reached_target": float(np.isfinite(reach["trials"]).mean()),
                "median_trials_to_target": float(np.median(reach["trials"])),
                "budget_median_regret": bci["median"],
                "budget_regret_ci_low": bci["ci_low"],
                "budget_regret_ci_high": bci["ci_high"],
                "budget_found_best": float((budget_final[s] <= 1e-12).mean()),
                "budget_p_holm": budget_vs_base[s][1],
                "feasible_share_of_trials": float(trials[s]["arch"].isin(feasible).mean()),
                **{f"median_{k}": float(f[k].median()) for k in FRONT_METRICS},
                "failed_trials": int((trials[s]["state"] != "COMPLETE").sum()),
            }
        )
    final = pd.DataFrame(rows)
    tables["final.csv"] = final
    tables["front_quality.csv"] = pd.DataFrame(
        [
            {"metric": k, "strategy": s, **median_ci(fq.loc[fq["strategy"] == s, k].to_numpy(), n_bootstrap, rng)}
            for k in FRONT_METRICS
            for s in trials
        ]
    )

    # latency verdicts against independent latency measurements
    rem = _remeasured_rows(trials, _remeasured(nets, table_rows, remeasurements), budget_quantile, n_trials)
    tables["remeasured.csv"] = rem
    tables["pareto.csv"] = _pareto_table(nets, truth, curves, trials, pareto_strategy, n_trials)

    report = {
        "n_trials": n_trials,
        "networks": int(len(nets)),
        "best_val_error": truth.best_val,
        "best_arch": str(nets["val_error"].idxmin()),
        "target_regret": target,
        "target_quantile": target_quantile,
        "true_front_size": int(true_front(nets).sum()),
        "baseline": baseline,
        "latency_budget_ms": budget,
        "budget_quantile": budget_quantile,
        "best_feasible_val_error": best_feasible,
        "best_feasible_arch": str(nets.loc[sorted(feasible), "val_error"].idxmin()),
        "n_feasible": len(feasible),
        "n_bootstrap": n_bootstrap,
        "strategies": {r["strategy"]: {k: v for k, v in r.items() if k != "strategy"} for r in rows},
        "verdicts": verdicts(final, fq, rem, tbands, grid, train_totals, pareto_strategy, FRONT_METRICS, n_trials),
    }
    return Result(tables, headline(report), report)


@dataclasses.dataclass(frozen=True)
class Searches:
    """What the ``compare`` stage reads, checked: the table, every strategy's trials
    (:func:`~hyperlab.selection.study.trials.load_trials`) and the latency stage's rounds
    (:func:`~hyperlab.selection.study.trials.load_latency`)."""

    table: Table
    trials: dict[str, pd.DataFrame]
    latency_rounds: dict[str, pd.Series]


def run(params, searches: Searches, seed: int = 0) -> Result:
    """The ``compare`` stage: :func:`compare` of ``searches`` as the ``search`` params section asks."""
    return compare(
        searches.trials,
        searches.table.nets,
        target_quantile=params.target_quantile,
        budget_quantile=params.latency_budget_quantile,
        n_bootstrap=params.n_bootstrap,
        seed=seed,
        table_rows=searches.table.rows,
        remeasurements=searches.latency_rounds,
    )


def summary_lines(result: Result) -> list[str]:
    """One log line per strategy (final regret, its interval, budget regret, front metrics), then the verdicts."""
    lines = []
    for row in result.tables["final.csv"].itertuples(index=False):
        p = "-" if row.p_holm is None or row.p_holm != row.p_holm else f"{row.p_holm:.3f}"
        lines.append(
            f"{row.strategy:<17s} regret {row.median_regret:.4f} [{row.regret_ci_low:.4f}, "
            f"{row.regret_ci_high:.4f}] p_holm {p}  repeats {row.repeats_per_study:.1f}  budget regret "
            f"{row.budget_median_regret:.4f}  hv log {row.median_hv_ratio_log:.3f} lin "
            f"{row.median_hv_ratio_linear:.3f}  front {row.median_front_share:.2f}  igd+ "
            f"{row.median_igd_plus:.3f}"
        )
    lines += [f"{key}: {text}" for key, text in result.report["verdicts"].items()]
    return lines
