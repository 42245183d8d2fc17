"""Sampler benchmark: the GP samplers against TPE and random search, on three problems.

- ``table``: the search stage's own protocol on ``data/candidates.csv``
  (:func:`hyperlab.selection.study.runner.run_strategy`; regret and "reached the
  best 5 %" from :func:`hyperlab.selection.analysis.compare.compare`).
- ``hartmann6`` on [0, 1]^6 and ``branin`` on [-5, 10] x [0, 15]: the
  standard BO test functions (Surjanovic & Bingham, *Virtual Library of
  Simulation Experiments*; minima -3.32237 and 0.397887), as six and two
  ``suggest_float`` parameters. Regret = best value found - the minimum.
  EI per second gets a known cost, ``c(x) = exp(2 u_1)`` with ``u_1`` the first
  coordinate scaled to [0, 1] (a 7.4x range).

Suggest time is measured on the table (as a user of the search stage sees it)
at 10 / 50 / 200 completed trials, each sampler beside TPE in the same run, so
the ratio is what to compare across machines.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import optuna
import pandas as pd

from hyperlab.progress import Progress, silent
from hyperlab.report import Result
from hyperlab.selection.analysis.compare import Searches, compare
from hyperlab.selection.analysis.noise_floor import noise_floor, search_regret
from hyperlab.selection.analysis.per_table import Settings
from hyperlab.selection.space.encoding import suggest_arch
from hyperlab.selection.study.pool import pool_map
from hyperlab.selection.study.runner import RunSpec, run_strategy
from hyperlab.selection.study.strategies import Networks, make_sampler, sampler_seed
from hyperlab.selection.table.benchmark import NetworkFailed, TableObjective
from hyperlab.selection.table.table import Table

if TYPE_CHECKING:
    from hyperlab.config.sections.search import SamplerBenchParams

SAMPLERS = ("gp_ei", "gp_ei_per_second", "tpe", "random")
TIMED = ("gp_ei", "gp_ei_per_second", "tpe")
#: The search strategy each sampler runs: "random" is ``random_uniform`` (on the table uniform over the
#: networks without repeats; on a test function, with no networks, Optuna's ``RandomSampler``).
STRATEGY = {s: ("random_uniform" if s == "random" else s) for s in SAMPLERS}


class Function(NamedTuple):
    name: str
    bounds: tuple[tuple[float, float], ...]
    minimum: float
    f: Callable[[np.ndarray], float]


_H_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> float:
    return -float(_H_ALPHA @ np.exp(-(_H_A * (x[None, :] - _H_P) ** 2).sum(axis=1)))


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


FUNCTIONS = {
    "hartmann6": Function("hartmann6", ((0.0, 1.0),) * 6, -3.32237, hartmann6),
    "branin": Function("branin", ((-5.0, 10.0), (0.0, 15.0)), 0.397887, branin),
}


def function_objective(fn: Function) -> Callable[[optuna.Trial], float]:
    def objective(trial):
        x = np.array([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(fn.bounds)])
        lo, hi = fn.bounds[0]
        trial.set_user_attr("cost", math.exp(2.0 * (x[0] - lo) / (hi - lo)))
        return fn.f(x)

    return objective


def function_run(job: tuple[str, str, int, int, int, int]) -> np.ndarray:
    """Best-so-far regret after each trial of one study.

    ``job = (function, sampler, repeat, trials, startup, seed)``.
    """
    fname, strategy, repeat, n_trials, n_startup, seed = job
    fn = FUNCTIONS[fname]
    sampler = make_sampler(STRATEGY[strategy], sampler_seed(seed, repeat), n_startup)
    study = optuna.create_study(sampler=sampler)
    study.optimize(function_objective(fn), n_trials=n_trials)
    values = np.array([t.value for t in study.trials], dtype=float)
    return np.minimum.accumulate(values) - fn.minimum


def function_jobs(repeats: int, n_trials: int, n_startup: int, seed: int) -> list[tuple]:
    return [(f, s, r, n_trials, n_startup, seed) for f in FUNCTIONS for s in SAMPLERS for r in range(repeats)]


def summarize_functions(
    jobs: list[tuple], curves: list[np.ndarray], target: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows per function and sampler, regret-vs-trial bands)."""
    summary, bands = [], []
    keys = sorted({(j[0], j[1]) for j in jobs}, key=lambda k: (list(FUNCTIONS).index(k[0]), SAMPLERS.index(k[1])))
    for fname, strategy in keys:
        runs = np.array([c for j, c in zip(jobs, curves) if (j[0], j[1]) == (fname, strategy)])
        final = runs[:, -1]
        summary.append(
            {
                "problem": fname,
                "sampler": strategy,
                "repeats": len(runs),
                "median_regret": float(np.median(final)),
                "regret_q25": float(np.quantile(final, 0.25)),
                "regret_q75": float(np.quantile(final, 0.75)),
                "target_regret": target,
                "reached_target": float(np.mean(final <= target)),
            }
        )
        q = np.quantile(runs, [0.25, 0.5, 0.75], axis=0)
        bands.append(
            pd.DataFrame(
                {
                    "problem": fname,
                    "sampler": strategy,
                    "trial": np.arange(1, runs.shape[1] + 1),
                    "median": q[1],
                    "q25": q[0],
                    "q75": q[2],
                }
            )
        )
    return pd.DataFrame(summary), pd.concat(bands, ignore_index=True)


def table_study(
    table: Table, params: SamplerBenchParams, settings: Settings, tick: Callable[[], None] = lambda: None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The search protocol for every sampler: (summary rows, regret-vs-trial bands).

    "random" here is the search stage's ``random_uniform``: uniform over the networks, without repeats.
    Beside the protocol's regret (of the incumbent, chosen by one noisy seed each), the summary has the
    ``search_regret`` of the best network evaluated (:func:`~hyperlab.selection.analysis.noise_floor.search_regret`)
    and ``found_best``, the share of repeats that evaluated the best network.
    """
    trials = {}
    for s in SAMPLERS:
        trials[s] = run_strategy(
            table,
            RunSpec(
                strategy=STRATEGY[s],
                n_trials=params.table_trials,
                repeats=params.table_repeats,
                n_startup_trials=params.n_startup_trials,
                cost="latency",
                seed=settings.seed,
            ),
        )
        trials[s]["strategy"] = s
        tick()
    nets = table.nets
    result = compare(Searches(table, trials, {}, 1), dataclasses.replace(settings, baseline="random"))
    report = result.report
    searched = {s: search_regret(trials[s], nets)["search_regret"] for s in SAMPLERS}
    summary = pd.DataFrame(
        [
            {
                "problem": "table",
                "sampler": s,
                "repeats": int(r["repeats"]),
                "median_regret": r["median_regret"],
                "regret_q25": r["regret_q25"],
                "regret_q75": r["regret_q75"],
                "target_regret": report["target_regret"],
                "reached_target": r["reached_target"],
                "search_regret_median": float(searched[s].median()),
                "search_regret_q75": float(searched[s].quantile(0.75)),
                "found_best": float((searched[s] <= 1e-12).mean()),
            }
            for s, r in report["strategies"].items()
        ]
    )
    wide = result.tables["regret_vs_trial.csv"]
    bands = pd.concat(
        [
            pd.DataFrame(
                {
                    "problem": "table",
                    "sampler": s,
                    "trial": wide["trial"],
                    "median": wide[s],
                    "q25": wide[f"{s}_q25"],
                    "q75": wide[f"{s}_q75"],
                }
            )
            for s in SAMPLERS
        ],
        ignore_index=True,
    )
    return summary, bands


def suggest_times(table: Table, strategy: str, checkpoints: tuple[int, ...], k: int, seed: int) -> dict:
    """{N: (median, max) ms of ``k`` suggestions after N completed trials} on the table objective.

    A suggestion is ``study.ask()`` plus defining the encoding (everything the
    sampler does per trial); the study continues between checkpoints, so the
    sampler's warm state is the one it has in a real run.
    """
    objective = TableObjective(table, seed=seed, repeat=0)
    study = optuna.create_study(sampler=make_sampler(strategy, seed, 10, Networks.of(table)))
    out = {}
    for n in checkpoints:
        done = sum(t.state.is_finished() for t in study.trials)
        study.optimize(objective, n_trials=max(n - done, 0), catch=(NetworkFailed,))
        times = []
        for _ in range(k):
            start = time.perf_counter()
            trial = study.ask()
            suggest_arch(trial, objective.space)
            times.append(time.perf_counter() - start)
            try:
                study.tell(trial, objective(trial))
            except NetworkFailed:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        out[n] = (1e3 * float(np.median(times)), 1e3 * float(np.max(times)))
    return out


def timing_table(table: Table, checkpoints: tuple[int, ...], k: int, seed: int) -> pd.DataFrame:
    times = {s: suggest_times(table, s, checkpoints, k, seed) for s in TIMED}
    return pd.DataFrame(
        [
            {
                "sampler": s,
                "completed_trials": n,
                "median_ms": times[s][n][0],
                "max_ms": times[s][n][1],
                "ratio_to_tpe": times[s][n][0] / times["tpe"][n][0],
            }
            for s in TIMED
            for n in checkpoints
        ]
    )


def headline(summary: pd.DataFrame, timing: pd.DataFrame) -> dict:
    """The few numbers ``dvc exp show`` compares."""

    def row(problem, sampler):
        return summary[(summary["problem"] == problem) & (summary["sampler"] == sampler)].iloc[0]

    last = timing[(timing["sampler"] == "gp_ei") & (timing["completed_trials"] == timing["completed_trials"].max())]
    return {
        "table_gp_ei_median_regret": float(row("table", "gp_ei")["median_regret"]),
        "table_gp_ei_regret_q75": float(row("table", "gp_ei")["regret_q75"]),
        "table_gp_ei_reached_target": float(row("table", "gp_ei")["reached_target"]),
        "hartmann6_gp_ei_median_regret": float(row("hartmann6", "gp_ei")["median_regret"]),
        "branin_gp_ei_median_regret": float(row("branin", "gp_ei")["median_regret"]),
        "gp_ei_suggest_ms_at_max": float(last["median_ms"].iloc[0]),
        "gp_ei_suggest_over_tpe_at_max": float(last["ratio_to_tpe"].iloc[0]),
    }


def _functions(
    jobs: list[tuple], n_workers: int, tick: Callable[[], Any], worker_setup: Callable[[], None] | None = None
) -> list[np.ndarray]:
    """:func:`function_run` of every job, in ``n_workers`` processes (results in job order).

    A worker that dies stops the stage with one line (:class:`~hyperlab.selection.study.pool.WorkerDied`).
    """
    advice = "nothing was written; rerun, with fewer sampler_bench.n_workers if memory ran out"
    return pool_map(
        function_run, jobs, n_workers, "sampler_bench", "the test-function studies", advice, tick, worker_setup
    )


def run(
    params: SamplerBenchParams,
    table: Table,
    settings: Settings,
    progress: Progress = silent,
    worker_setup: Callable[[], None] | None = None,
) -> Result:
    """The ``sampler_bench`` stage: the test functions (in ``params.n_workers`` processes), the table, then
    the suggest timings alone, as the ``sampler_bench`` params section asks. ``settings``: how the table
    studies are compared (the ``search`` section's, :func:`~hyperlab.selection.analysis.compare.settings_of`;
    its ``seed`` seeds everything). A table study longer than the table's networks is refused (a
    :class:`~hyperlab.selection.table.validate.TableError` line). ``worker_setup`` runs first in each
    process (:func:`~hyperlab.selection.study.pool.pool_map`); the table studies run in this one."""
    seed = settings.seed
    table.check_trials(params.table_trials, "sampler_bench.table_trials")
    jobs = function_jobs(params.function_repeats, params.function_trials, params.n_startup_trials, seed)
    with progress(total=len(jobs), desc="sampler_bench functions") as bar:
        curves = _functions(jobs, params.n_workers, lambda: bar.update(1), worker_setup)
    fn_summary, fn_bands = summarize_functions(jobs, curves, params.target_regret)
    with progress(total=len(SAMPLERS), desc="sampler_bench table") as bar:
        tab_summary, tab_bands = table_study(table, params, settings, tick=lambda: bar.update(1))
    timing = timing_table(table, tuple(params.timing_checkpoints), params.timing_suggestions, seed)
    floor = noise_floor(table.rows, table.nets, params.floor_regret, params.table_repeats, seed=seed)

    summary = pd.concat([tab_summary, fn_summary], ignore_index=True)
    tables = {
        "summary.csv": summary,
        "curves.csv": pd.concat([tab_bands, fn_bands], ignore_index=True),
        "timing.csv": timing,
        "noise_floor.csv": floor,
    }
    report = {
        "summary": summary.to_dict("records"),
        "timing": timing.to_dict("records"),
        "noise_floor": {
            "floor_regret": params.floor_regret,
            "repeats": params.table_repeats,
            "rows": floor.to_dict("records"),
        },
    }
    return Result(tables, headline(summary, timing), report)
