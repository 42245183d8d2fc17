"""Suggest latency of gp_ei vs TPE at 10, 50 and 200 completed trials on the default space.

Each sampler runs its own study on the table objective (the real
``data/candidates.csv`` when present, else the synthetic table of the same
schema) up to N completed trials, then the next ``K`` suggestions are timed
(``study.ask()`` plus defining the fixed-length encoding, i.e. everything the
sampler does per trial), with the study continuing so the sampler's warm state
is the one it has in a real run. Prints one JSON line per figure: medians in
ms and the gp_ei / tpe ratio, measured side by side.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import optuna

from hyperlab.selection.benchmark import NetworkFailed, TableObjective, load_table, suggest_arch, synthetic_table
from hyperlab.selection.gp import GPEISampler

CHECKPOINTS = (10, 50, 200)
K = 15


def timed_suggests(make_sampler, objective) -> dict[int, tuple[float, float]]:
    """{N: (median, max) ms of the K suggestions after N trials}; the max includes the GP's
    periodic hyperparameter re-optimization (every 10 % growth of the data)."""
    study = optuna.create_study(sampler=make_sampler())
    medians = {}
    for n in CHECKPOINTS:
        done = sum(t.state.is_finished() for t in study.trials)
        study.optimize(objective, n_trials=max(n - done, 0), catch=(NetworkFailed,))
        times = []
        for _ in range(K):
            start = time.perf_counter()
            trial = study.ask()
            suggest_arch(trial, objective.space)
            times.append(time.perf_counter() - start)
            try:
                study.tell(trial, objective(trial))
            except NetworkFailed:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        medians[n] = (1e3 * float(np.median(times)), 1e3 * float(np.max(times)))
    return medians


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = Path("data/candidates.csv")
    table = load_table(path) if path.is_file() else synthetic_table()
    source = str(path) if path.is_file() else "synthetic"
    objective = TableObjective(table, seed=0, repeat=0)
    gp = timed_suggests(lambda: GPEISampler(n_startup_trials=10, seed=0), objective)
    tpe = timed_suggests(lambda: optuna.samplers.TPESampler(n_startup_trials=10, seed=0), objective)
    for n in CHECKPOINTS:
        for name, (median, worst) in (("gp_ei", gp[n]), ("tpe", tpe[n])):
            print(json.dumps({"bench": "gp_suggest", "metric": f"{name}_suggest_ms_median", "value": round(median, 2),
                              "max_ms": round(worst, 2), "completed_trials": n, "table": source, "k": K}))
        print(json.dumps({"bench": "gp_suggest", "metric": "gp_ei_over_tpe", "value": round(gp[n][0] / tpe[n][0], 2),
                          "completed_trials": n, "target": "gp_ei median <= 100 ms at 200"}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
