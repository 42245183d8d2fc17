"""Stage ``search@<strategy>``: run one strategy ``search.repeats`` times against the candidate table.

Usage: ``python stages/search.py <strategy>`` (DVC's foreach passes each key of
``search.strategies``, whose entry holds that strategy's own settings). Writes every trial of every repeat to
``data/search/<strategy>.csv`` (:func:`hyperlab.selection.runner.search`).
"""

from __future__ import annotations

import logging
import sys
import time

from hyperlab import config
from hyperlab.cli import InputError, progress, run_stage

log = logging.getLogger("hyperlab.stages.search")
TABLE = "data/candidates.csv"


def main() -> None:
    common = config.load_common()
    params = config.load_section("search")
    if len(sys.argv) != 2:
        raise InputError(f"usage: python stages/search.py <strategy>; strategies: {', '.join(params.strategies)}")
    strategy = sys.argv[1]
    if strategy not in params.strategies:
        raise InputError(f"unknown strategy {strategy!r}; search.strategies has: {', '.join(params.strategies)}")

    from hyperlab.io import write_csv
    from hyperlab.selection import runner
    from hyperlab.selection.storage import StorageBusy
    from hyperlab.selection.table import TableError

    entry = params.strategies[strategy]
    start = time.perf_counter()
    try:
        with progress(total=params.repeats, desc=f"search {strategy}") as bar:
            trials = runner.search(TABLE, strategy, n_trials=params.n_trials, repeats=params.repeats,
                                   n_startup_trials=entry.n_startup_trials, cost=entry.cost or params.cost,
                                   seed=common.seed, storage=params.storage, n_workers=params.n_workers,
                                   budget_quantile=params.latency_budget_quantile, on_repeat=lambda: bar.update(1))
    except (TableError, StorageBusy) as err:
        raise InputError(str(err)) from None
    write_csv(f"data/search/{strategy}.csv", trials)
    log.info("%s: %d repeats x %d trials in %.1f s (%s)", strategy, params.repeats, params.n_trials,
             time.perf_counter() - start, runner.describe(trials))


if __name__ == "__main__":
    run_stage(main)
