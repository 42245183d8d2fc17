"""The comparison of the search strategies: every strategy's trials into plot data, a report, headline numbers.

:func:`compare` analyses each realization of the table on its own
(:func:`~hyperlab.selection.analysis.per_table.analyse`: the three regrets,
the latency budget, the fronts, re-measured latencies), then keeps only the
verdicts every realization agrees on (:mod:`~hyperlab.selection.analysis.robust`).
The plot tables and the headline numbers are those of realization 0
(``report["headline_realization"]``); every realization's numbers are in
``report["realizations"]``. :func:`run` is the ``compare`` stage, on the
:class:`Searches` its script read and checked.

The result does not depend on the row order of a trial file: every frame is
sorted by (realization, repeat, trial) before anything is summed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperlab.report import Result
from hyperlab.selection.analysis.fronts import front_quality, true_front
from hyperlab.selection.analysis.noise_floor import search_regret
from hyperlab.selection.analysis.per_table import (
    FRONT_METRICS,
    REGRETS,
    Settings,
    analyse,
    evaluated,
    final,
    norms,
    strategy_row,
)
from hyperlab.selection.analysis.regret import Truth, budget_curve, found_front
from hyperlab.selection.analysis.robust import paired_verdicts, robust_verdicts
from hyperlab.selection.analysis.stats import median_ci
from hyperlab.selection.analysis.verdicts import headline, verdicts
from hyperlab.selection.names import BASELINE, PARETO_STRATEGY
from hyperlab.selection.table.table import Table, latency_budget

if TYPE_CHECKING:
    from hyperlab.config.sections.search import SearchParams

#: The realization whose plot tables and numbers are the headline (``report["headline_realization"]``).
HEADLINE_REALIZATION = 0


class CompareError(ValueError):
    """The studies cannot be compared as asked (e.g. the baseline strategy did not run); one line."""


@dataclasses.dataclass(frozen=True)
class Searches:
    """What the ``compare`` stage reads, checked: the table, every strategy's trials
    (:func:`~hyperlab.selection.study.trials.load_trials`), the latency stage's rounds
    (:func:`~hyperlab.selection.study.trials.load_latency`) and how many realizations the trials cover."""

    table: Table
    trials: dict[str, pd.DataFrame]
    latency_rounds: dict[str, pd.Series]
    realizations: int


@dataclasses.dataclass(frozen=True)
class Part:
    """One realization's outputs."""

    tables: dict[str, pd.DataFrame]
    report: dict
    finals: dict[str, pd.DataFrame]
    sentences: dict
    outcomes: dict


def settings_of(params: SearchParams, seed: int) -> Settings:
    """The :class:`~hyperlab.selection.analysis.per_table.Settings` the ``search`` params section asks for."""
    return Settings(
        target_quantile=params.target_quantile,
        budget_quantile=params.latency_budget_quantile,
        n_bootstrap=params.n_bootstrap,
        seed=seed,
        baseline=BASELINE,
        pareto_strategy=PARETO_STRATEGY,
    )


def sorted_trials(trials: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every frame in (realization, repeat, trial) order: sums and draws then never depend on the file's row order."""
    out = {}
    for s, df in trials.items():
        df = df if "realization" in df else df.assign(realization=0)
        out[s] = df.sort_values(["realization", "repeat", "trial"], kind="stable").reset_index(drop=True)
    return out


def _remeasured(nets: pd.DataFrame, rows: pd.DataFrame, extra: dict[str, pd.Series]) -> dict[str, pd.DataFrame]:
    """Per independent latency measurement: the networks with that measurement's latency.

    ``mean``: the table's seed mean (what the searches saw); ``seed<k>``: the
    latency timed on the copy trained with seed k alone -- an independent timing
    of the same network (the models are timed one by one in random order);
    ``extra``: further measurements by name (the ``latency`` stage's rounds).
    """
    out = {"mean": nets}
    for name, lat in extra.items():
        out[name] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy(float))
    ok = rows[rows["status"] == "ok"]
    for seed, g in ok.groupby("seed"):
        lat = g.groupby("arch")["latency_ms"].mean()
        if set(lat.index) >= set(nets.index):
            out[f"seed{int(seed)}"] = nets.assign(latency_ms=lat.reindex(nets.index).to_numpy())
    return out


def _remeasured_rows(trials: dict, measured: dict, budget_quantile: float, n_trials: int) -> pd.DataFrame:
    """Per (measurement, strategy): the budget regret and the front metrics under that measurement's latency."""
    rows = []
    for name, m_nets in measured.items():
        m_budget = latency_budget(m_nets, budget_quantile)
        m_final = final({s: budget_curve(df, m_nets, m_budget) for s, df in trials.items()}, n_trials)
        m_norms = norms(m_nets)
        for s, df in trials.items():
            q = [front_quality(evaluated(g), m_nets, m_norms) for _, g in df.groupby("repeat")]
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


def _pareto_table(truth: Truth, curves: dict, trials: dict, pareto_strategy: str, n_trials: int) -> pd.DataFrame:
    """Every network, the true front and (if run) ``pareto_strategy``'s front of its median-hypervolume repeat."""
    nets = truth.nets
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


def _front_quality_table(fq: pd.DataFrame, strategies: list[str], settings: Settings) -> pd.DataFrame:
    """Per (front metric, strategy): median and bootstrap interval over the repeats."""
    rows = []
    for i, k in enumerate(FRONT_METRICS):
        for j, s in enumerate(strategies):
            rng = np.random.default_rng([settings.seed, 1000 + i, j])  # per cell: no dependence on the order
            rows.append(
                {"metric": k, "strategy": s, **median_ci(fq.loc[fq["strategy"] == s, k], settings.n_bootstrap, rng)}
            )
    return pd.DataFrame(rows)


def _table_facts(table: Table, facts: dict, settings: Settings) -> dict:
    """What the report says of one realization's table: its seeds, best network, target, latency budget."""
    nets = table.nets
    return {
        "seeds": list(table.seeds),
        "n_trials": facts["n_trials"],
        "networks": int(len(nets)),
        "best_val_error": facts["truth"].best_val,
        "best_arch": str(nets["val_error"].idxmin()),
        "target_regret": facts["target"],
        "target_quantile": settings.target_quantile,
        "true_front_size": int(true_front(nets).sum()),
        "baseline": settings.baseline,
        "latency_budget_ms": facts["budget"],
        "budget_quantile": settings.budget_quantile,
        "best_feasible_val_error": facts["best_feasible"],
        "best_feasible_arch": str(nets.loc[sorted(facts["feasible"]), "val_error"].idxmin()),
        "n_feasible": len(facts["feasible"]),
        "n_bootstrap": settings.n_bootstrap,
    }


def compare_realization(trials: dict, table: Table, settings: Settings, rounds: dict[str, pd.Series]) -> Part:
    """Everything :func:`compare` reports of one realization: ``trials`` (sorted) on its ``table``."""
    a, facts = analyse(trials, table, settings)
    n_trials = facts["n_trials"]
    trials = {s: df[df["trial"] < n_trials] for s, df in trials.items()}
    rows = [strategy_row(s, a, trials[s], settings, facts) for s in trials]
    final_table = pd.DataFrame(rows)
    rem = _remeasured_rows(trials, _remeasured(table.nets, table.rows, rounds), settings.budget_quantile, n_trials)
    tables = {
        **a.tables,
        "final.csv": final_table,
        "front_quality.csv": _front_quality_table(a.front_quality, list(trials), settings),
        "remeasured.csv": rem,
        "pareto.csv": _pareto_table(facts["truth"], a.curves, trials, settings.pareto_strategy, n_trials),
    }
    sentences, outcomes = verdicts(final_table, rem, a.train, settings.pareto_strategy, n_trials)
    report = {
        **_table_facts(table, facts, settings),
        "strategies": {r["strategy"]: {k: v for k, v in r.items() if k != "strategy"} for r in rows},
    }
    return Part(tables, report, a.finals, sentences, outcomes)


def stated_verdicts(parts: list[Part]) -> dict:
    """Each sentence of the headline realization where every realization gives the same outcome; else
    ``{"not_robust": true, "per_realization": [its sentence on each realization]}``."""
    out: dict = {}
    for key, sentence in parts[HEADLINE_REALIZATION].sentences.items():
        outcomes = [p.outcomes.get(key) for p in parts]
        if all(o == outcomes[0] for o in outcomes):
            out[key] = sentence
        else:
            out[key] = {"not_robust": True, "per_realization": [p.sentences.get(key) for p in parts]}
    return out


def _realization_summary(part: Part) -> dict:
    """What ``report["realizations"]`` keeps of one realization: its table facts, the regrets' medians and intervals."""
    keys = [("" if k == "incumbent" else f"{k}_") + "median_regret" for k in REGRETS]
    # each median's bootstrap interval too, so every realization's finals can be tabled as median [CI]
    keys += [("" if k == "incumbent" else f"{k}_") + f"regret_ci_{e}" for k in REGRETS for e in ("low", "high")]
    keys += ["repeats_per_study", "median_hv_ratio_log", "median_front_share"]
    return {
        **{k: v for k, v in part.report.items() if k != "strategies"},
        "strategies": {s: {k: row[k] for k in keys} for s, row in part.report["strategies"].items()},
        "verdicts": part.sentences,
    }


def compare(searches: Searches, settings: Settings) -> Result:
    """Aggregate every strategy's trials into the plot data, the headline metrics and the report.

    Realization ``r`` of :attr:`Searches.table` (its own seeds, its own truth) is read
    with its trials alone (:func:`compare_realization`); :func:`robust_verdicts` keeps
    the paired verdicts that hold on every one. One :class:`CompareError` line when
    the baseline strategy is not among the trials.
    """
    if settings.baseline not in searches.trials:
        raise CompareError(
            f"search.strategies: the baseline {settings.baseline!r} did not run (every strategy is tested "
            f"against it); ran: {', '.join(searches.trials)}; add {settings.baseline} to search.strategies"
        )
    trials = sorted_trials(searches.trials)
    n_real = searches.realizations
    parts, vs_all = [], []
    for r in range(n_real):
        mine = {s: df[df["realization"] == r].reset_index(drop=True) for s, df in trials.items()}
        # the same studies' search regret against the mean of every seed of the table (the better truth)
        vs_all.append(
            {s: float(search_regret(df, searches.table.nets)["search_regret"].median()) for s, df in mine.items()}
        )
        parts.append(
            compare_realization(mine, searches.table.realization(r, n_real), settings, searches.latency_rounds)
        )
    pv, paired = robust_verdicts(paired_verdicts([p.finals for p in parts], settings.baseline), n_real)
    head = parts[HEADLINE_REALIZATION]
    report = {
        **head.report,
        "table_realizations": n_real,
        "headline_realization": HEADLINE_REALIZATION,
        "verdicts": stated_verdicts(parts),
        "paired_verdicts": paired,
        "realizations": [
            {**_realization_summary(p), "search_median_regret_vs_all_seeds": a} for p, a in zip(parts, vs_all)
        ],
    }
    return Result({**head.tables, "paired_verdicts.csv": pv}, headline(report), report)


def run(params: SearchParams, searches: Searches, seed: int) -> Result:
    """The ``compare`` stage: :func:`compare` of ``searches`` as the ``search`` params section asks."""
    return compare(searches, settings_of(params, seed))


def summary_lines(result: Result) -> list[str]:
    """One log line per strategy (its three regrets, the budget regret, front metrics), then the verdicts."""
    lines = []
    for row in result.tables["final.csv"].itertuples(index=False):
        p = "-" if row.p_holm is None or row.p_holm != row.p_holm else f"{row.p_holm:.3f}"
        lines.append(
            f"{row.strategy:<21s} regret: search {row.search_median_regret:.4f} incumbent {row.median_regret:.4f} "
            f"[{row.regret_ci_low:.4f}, {row.regret_ci_high:.4f}] p_holm {p} recommendation "
            f"{row.recommendation_median_regret:.4f}  repeats {row.repeats_per_study:.1f}  budget "
            f"{row.budget_median_regret:.4f}  hv log {row.median_hv_ratio_log:.3f}  front {row.median_front_share:.2f}"
        )
    paired = result.report["paired_verdicts"]
    lines += [f"{key}: {text}" for key, text in result.report["verdicts"].items()]
    lines += [f"robust: {s}" for s in paired["robust"]] + [f"not robust: {s}" for s in paired["not_robust"]]
    return lines
