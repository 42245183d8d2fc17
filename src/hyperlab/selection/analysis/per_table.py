"""The comparison of the strategies on one realization of the table: curves, per-repeat finals, one row each.

:func:`analyse` reads each strategy's repeats against one table's truth
(:mod:`~hyperlab.selection.analysis.regret`, :mod:`~hyperlab.selection.analysis.fronts`,
:mod:`~hyperlab.selection.analysis.recommend`) and pairs the strategies by repeat
(:mod:`~hyperlab.selection.analysis.stats`). Three regrets are read off every study,
each from the strategy's own trials:

- ``search``: the best true (seed-mean) error among the networks it evaluated,
  minus the optimum -- what the strategy *found*;
- ``incumbent``: the true error of the network with the lowest observation (a
  lucky seed draw can crown a lesser network);
- ``recommendation``: the true error of the network this project's GP, fitted on
  the study's observations, gives the lowest posterior mean
  (:func:`~hyperlab.selection.analysis.recommend.recommend`), the same rule for every strategy.

:mod:`~hyperlab.selection.analysis.compare` runs this once per realization.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hyperlab.selection.analysis.fronts import front_quality, normalized_points
from hyperlab.selection.analysis.recommend import recommendation_regrets
from hyperlab.selection.analysis.regret import (
    Truth,
    band,
    budget_curve,
    budget_truth,
    cumulative_regret_at,
    first_reaching,
    mean_ranks,
    repeats_per_study,
    table_truth,
    trial_curves,
)
from hyperlab.selection.analysis.stats import REGRET_TOL, median_ci, pairwise_table, vs_baseline
from hyperlab.selection.table.table import Table, latency_budget

FRONT_METRICS = ["hv_ratio_log", "hv_ratio_linear", "front_share", "igd_plus"]
#: The three regrets of a study's own trials, and the fourth, under the latency budget (the incumbent's).
REGRETS = ("search", "incumbent", "recommendation", "budget")
#: Where the recommendation regret is read: these fractions of the study's trials (the GP is fitted at each).
CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the comparison reads the studies (built from the ``search`` params section by ``compare``)."""

    target_quantile: float  # target regret: that of the network at this quantile of the val errors
    budget_quantile: float  # latency budget: this quantile of the networks' latencies
    n_bootstrap: int  # resamples of the bootstrap intervals
    seed: int  # of the bootstrap
    baseline: str  # every strategy is tested against it
    pareto_strategy: str  # whose found front ``pareto.csv`` draws
    n_grid: int = 60  # points of the cumulative-training-time axis (a plotting resolution, not a result)


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One realization's outputs: plot tables, its report, and per regret the repeats x strategies finals."""

    tables: dict[str, pd.DataFrame]
    report: dict
    finals: dict[str, pd.DataFrame]
    curves: dict[str, pd.DataFrame]
    train: tuple  # (grid, bands, totals) of regret vs cumulative training seconds
    front_quality: pd.DataFrame


def wide(bands: dict[str, pd.DataFrame], x_name: str, x: np.ndarray) -> pd.DataFrame:
    """Median and quartile columns of every strategy's band against ``x``."""
    out = pd.DataFrame({x_name: x})
    for s, b in bands.items():
        out[s] = b["median"].to_numpy()
        out[f"{s}_q25"] = b["q25"].to_numpy()
        out[f"{s}_q75"] = b["q75"].to_numpy()
    return out


def final(curves: dict[str, pd.DataFrame], n_trials: int, column: str = "regret") -> pd.DataFrame:
    """repeats x strategies: ``column`` after ``n_trials`` trials."""
    return pd.DataFrame({s: c[c["trial"] == n_trials].set_index("repeat")[column] for s, c in curves.items()})


def checkpoints(n_trials: int) -> list[int]:
    """The trial counts the recommendation regret is read at (:data:`CHECKPOINT_FRACTIONS`)."""
    return sorted({max(1, round(f * n_trials)) for f in CHECKPOINT_FRACTIONS})


def cost_bands(curves: dict, trials: dict, column: str, worst: float, n_grid: int):
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


def norms(nets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"log": normalized_points(nets, True), "linear": normalized_points(nets, False)}


def evaluated(repeat_trials: pd.DataFrame) -> set:
    return set(repeat_trials.loc[repeat_trials["state"] == "COMPLETE", "arch"])


def front_quality_rows(trials: dict, nets: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, repeat): the four front metrics of the networks it evaluated."""
    n = norms(nets)
    return pd.DataFrame(
        [
            {"strategy": s, "repeat": repeat, **front_quality(evaluated(g), nets, n)}
            for s, df in trials.items()
            for repeat, g in df.groupby("repeat")
        ]
    )


def _regret_finals(trials: dict, table: Table, truth: Truth, settings: Settings, n_trials: int):
    """Curves of every strategy, and per regret (:data:`REGRETS`) the finals and the curve table."""
    curves = {s: trial_curves(df, truth) for s, df in trials.items()}
    points = checkpoints(n_trials)
    rec = {
        s: recommendation_regrets(df, table.nets, table.space, points, truth.worst_regret) for s, df in trials.items()
    }
    budget = latency_budget(table.nets, settings.budget_quantile)
    bcurves = {s: budget_curve(df, table.nets, budget) for s, df in trials.items()}
    finals = {
        "search": final(curves, n_trials, "search_regret"),
        "incumbent": final(curves, n_trials),
        "recommendation": final(rec, n_trials),
        "budget": final(bcurves, n_trials),
    }
    axis = np.arange(1, n_trials + 1)
    tables = {
        "regret_vs_trial.csv": wide({s: band(c, "regret") for s, c in curves.items()}, "trial", axis),
        "search_regret_vs_trial.csv": wide({s: band(c, "search_regret") for s, c in curves.items()}, "trial", axis),
        "recommendation_regret_vs_trial.csv": wide(
            {s: band(r, "regret") for s, r in rec.items()}, "trial", np.array(points)
        ),
        "hypervolume_vs_trial.csv": wide({s: band(c, "hv_ratio") for s, c in curves.items()}, "trial", axis),
        "budget_regret_vs_trial.csv": wide({s: band(c, "regret") for s, c in bcurves.items()}, "trial", axis),
    }
    return curves, finals, tables


def _regret_columns(finals: dict, baseline: str, s: str, ci: dict) -> dict:
    """Per regret: median, bootstrap interval and the one-sided Holm p of 'lower than the baseline'."""
    out = {}
    for kind in REGRETS:
        vs = vs_baseline(finals[kind], baseline)
        prefix = "" if kind == "incumbent" else f"{kind}_"  # the incumbent's keep their names: median_regret, ..
        out[f"{prefix}median_regret"] = ci[kind]["median"]
        out[f"{prefix}regret_ci_low"] = ci[kind]["ci_low"]
        out[f"{prefix}regret_ci_high"] = ci[kind]["ci_high"]
        out[f"{prefix}p_holm"] = vs[s][1]
        if kind == "incumbent":
            out["p_less_regret_than_baseline"] = vs[s][0]
        out[f"{prefix}found_best"] = float((finals[kind][s] <= REGRET_TOL).mean())
    return out


def strategy_row(s: str, a: Analysis, trials: pd.DataFrame, settings: Settings, extra: dict) -> dict:
    """The ``final.csv`` row of strategy ``s``: the three regrets, the budget regret, repeats, front metrics."""
    rng = np.random.default_rng([settings.seed, list(a.finals["incumbent"].columns).index(s)])
    ci = {kind: median_ci(a.finals[kind][s].to_numpy(), settings.n_bootstrap, rng) for kind in REGRETS}
    c = a.curves[s]
    last = c[c["trial"] == extra["n_trials"]]
    reach = first_reaching(c, extra["target"])
    reps = repeats_per_study(trials)
    f = a.front_quality[a.front_quality["strategy"] == s]
    return {
        "strategy": s,
        "repeats": int(last["repeat"].nunique()),
        **_regret_columns(a.finals, settings.baseline, s, ci),
        "regret_q25": float(last["regret"].quantile(0.25)),
        "regret_q75": float(last["regret"].quantile(0.75)),
        "mean_rank": float(extra["ranks"].get(s, np.nan)),
        "repeats_per_study": float(reps.mean()),
        "max_repeats_in_a_study": int(reps.max()),
        "median_test_error": float(last["test_error"].median()),
        "median_latency_ms": float(last["latency_ms"].median()),
        "median_train_seconds_total": float(a.train[2][s].median()),
        "reached_target": float(np.isfinite(reach["trials"]).mean()),
        "median_trials_to_target": float(np.median(reach["trials"])),
        "feasible_share_of_trials": float(trials["arch"].isin(extra["feasible"]).mean()),
        **{f"median_{k}": float(f[k].median()) for k in FRONT_METRICS},
        "failed_trials": int((trials["state"] != "COMPLETE").sum()),
    }


def analyse(trials: dict[str, pd.DataFrame], table: Table, settings: Settings) -> tuple[Analysis, dict]:
    """Curves, finals and the per-strategy rows of ``trials`` (one realization's, sorted) on ``table``.

    Returns the :class:`Analysis` and the facts of the table the report states
    (best network, target regret, latency budget, feasible networks).
    """
    nets = table.nets
    truth = table_truth(nets)
    n_trials = min(int(df["trial"].max()) + 1 for df in trials.values())
    trials = {s: df[df["trial"] < n_trials] for s, df in trials.items()}
    curves, finals, tables = _regret_finals(trials, table, truth, settings, n_trials)
    train = cost_bands(curves, trials, "train_seconds", truth.worst_regret, settings.n_grid)
    tables["regret_vs_train_seconds.csv"] = wide(train[1], "train_seconds", train[0])
    tables["pairwise.csv"] = pairwise_table(finals["incumbent"])
    tables["budget_pairwise.csv"] = pairwise_table(finals["budget"])
    budget = latency_budget(nets, settings.budget_quantile)
    feasible, best_feasible = budget_truth(nets, budget)
    fq = front_quality_rows(trials, nets)
    a = Analysis(tables, {}, finals, curves, train, fq)
    facts = {
        "n_trials": n_trials,
        "target": float(np.quantile(nets["val_error"], settings.target_quantile) - truth.best_val),
        "ranks": mean_ranks(finals["incumbent"].dropna()),
        "feasible": feasible,
        "best_feasible": best_feasible,
        "budget": budget,
        "truth": truth,
    }
    return a, facts
