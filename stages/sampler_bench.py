"""Stage ``sampler_bench``: are our GP samplers as good as Optuna's GPSampler, and how fast?

Runs :func:`hyperlab.selection.analysis.sampler_bench_experiment.run` -- GP-EI, EI per second, TPE and
random on the candidate table (the search protocol), Hartmann-6 and Branin --
and writes ``plots/sampler_bench/{summary,curves,timing}.csv`` and the headline
numbers to ``metrics/sampler_bench.json`` (the full tables also to
``plots/sampler_bench/report.json``). The function studies run in
``n_workers`` processes; the suggest timings run afterwards, alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import InputError, progress, run_stage, setup_logging
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.sampler_bench")
TABLE = "data/candidates.csv"
OUT = Path("plots/sampler_bench")


def main() -> None:
    common = config.load_common()
    params = config.load_section("sampler_bench")
    candidates = config.load_section("candidates")
    search = config.load_section("search")  # the table studies are compared as the search stage's are

    from hyperlab.selection.analysis import compare, sampler_bench_experiment
    from hyperlab.selection.table.table import ExpectedRows, load_table
    from hyperlab.selection.table.validate import TableError

    try:
        table = load_table(TABLE, ExpectedRows.of(candidates, common.seed))
        settings = compare.settings_of(search, common.seed)
        # spawned workers log as this stage does (Optuna level included)
        result = sampler_bench_experiment.run(params, table, settings, progress=progress, worker_setup=setup_logging)
    except TableError as err:
        raise InputError(str(err)) from None
    write_outputs(result, OUT, "metrics/sampler_bench.json")
    log.info("%s", ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))


if __name__ == "__main__":
    run_stage(main)
