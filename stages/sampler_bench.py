"""Stage ``sampler_bench``: are our GP samplers as good as Optuna's GPSampler, and how fast?

Runs :func:`hyperlab.selection.sampler_bench.run` -- GP-EI, EI per second, TPE and
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
from hyperlab.cli import InputError, progress, run_stage
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.sampler_bench")
TABLE = "data/candidates.csv"
OUT = Path("plots/sampler_bench")


def main() -> None:
    common = config.load_common()
    params = config.load_section("sampler_bench")

    from hyperlab.selection import sampler_bench
    from hyperlab.selection.table import TableError

    try:
        result = sampler_bench.run(
            TABLE, seed=common.seed, n_startup_trials=params.n_startup_trials,
            function_repeats=params.function_repeats, function_trials=params.function_trials,
            target_regret=params.target_regret, table_repeats=params.table_repeats, table_trials=params.table_trials,
            timing_checkpoints=tuple(params.timing_checkpoints), timing_suggestions=params.timing_suggestions,
            n_workers=params.n_workers, floor_regret=params.floor_regret, progress=progress)
    except TableError as err:
        raise InputError(str(err)) from None
    write_outputs(result, OUT, "metrics/sampler_bench.json")
    log.info("%s", ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))


if __name__ == "__main__":
    run_stage(main)
