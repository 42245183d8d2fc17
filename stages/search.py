"""Stage ``search@<strategy>``: run one strategy ``search.repeats`` times against the candidate table.

Usage: ``python stages/search.py <strategy>`` (DVC's foreach passes each key of
``search.strategies``, whose entry holds that strategy's own settings). Writes every trial of every repeat of
every table realization (``search.table_realizations``, column ``realization``) to ``data/search/<strategy>.csv``
(:func:`hyperlab.selection.study.runner.run`).
"""

from __future__ import annotations

import logging
import sys
import time

from hyperlab import config
from hyperlab.cli import InputError, progress, run_stage, setup_logging

log = logging.getLogger("hyperlab.stages.search")
TABLE = "data/candidates.csv"


def main() -> None:
    common = config.load_common()
    params = config.load_section("search")
    candidates = config.load_section("candidates")
    if len(sys.argv) != 2:
        raise InputError(f"usage: python stages/search.py <strategy>; strategies: {', '.join(params.strategies)}")
    strategy = sys.argv[1]
    if strategy not in params.strategies:
        raise InputError(f"unknown strategy {strategy!r}; search.strategies has: {', '.join(params.strategies)}")

    from hyperlab.io import write_csv
    from hyperlab.selection.study import runner
    from hyperlab.selection.study.storage import StorageBusy
    from hyperlab.selection.table.table import ExpectedRows, load_table
    from hyperlab.selection.table.validate import TableError

    start = time.perf_counter()
    try:
        table = load_table(TABLE, ExpectedRows.of(candidates, common.seed))
        # spawned workers log as this stage does (Optuna level included)
        result = runner.run(params, strategy, table, common.seed, progress=progress, worker_setup=setup_logging)
    except (TableError, StorageBusy) as err:
        raise InputError(str(err)) from None
    write_csv(f"data/search/{strategy}.csv", result.products["trials"])
    log.info(
        "%s: %d realization(s) x %d repeats x %d trials in %.1f s (%s)",
        strategy,
        params.table_realizations,
        params.repeats,
        params.n_trials,
        time.perf_counter() - start,
        result.report["summary"],
    )


if __name__ == "__main__":
    run_stage(main)
