"""Stage ``sampler_bench``: are our GP samplers as good as Optuna's GPSampler, and how fast?

Runs :mod:`hyperlab.selection.sampler_bench` -- GP-EI, EI per second, TPE and
random on the candidate table (the search protocol), Hartmann-6 and Branin --
and writes ``plots/sampler_bench/{summary,curves,timing}.csv`` and the headline
numbers to ``metrics/sampler_bench.json`` (the full tables also to
``plots/sampler_bench/report.json``). The function studies run in
``n_workers`` processes; the suggest timings run afterwards, alone.
"""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

from hyperlab import config
from hyperlab.cli import InputError, progress, run_stage
from hyperlab.io import write_tables
from hyperlab.report import write_results

log = logging.getLogger("hyperlab.stages.sampler_bench")
TABLE = "data/candidates.csv"
OUT = Path("plots/sampler_bench")


def main() -> None:
    common = config.load_common()
    params = config.load_section("sampler_bench")

    import pandas as pd

    from hyperlab.selection import sampler_bench as sb
    from hyperlab.selection.benchmark import TableError, load_table

    try:
        table = load_table(TABLE)
    except TableError as err:
        raise InputError(str(err)) from None

    jobs = sb.function_jobs(params.function_repeats, params.function_trials, params.n_startup_trials, common.seed)
    with progress(total=len(jobs), desc="sampler_bench functions") as bar:
        if params.n_workers == 1:
            curves = [bar.update(1) or sb.function_run(j) for j in jobs]
        else:
            with multiprocessing.get_context("spawn").Pool(params.n_workers) as pool:
                curves = [bar.update(1) or c for c in pool.imap(sb.function_run, jobs)]
    fn_summary, fn_bands = sb.summarize_functions(jobs, curves, params.target_regret)

    with progress(total=len(sb.SAMPLERS), desc="sampler_bench table") as bar:
        tab_summary, tab_bands = sb.table_study(table, params.table_repeats, params.table_trials,
                                                params.n_startup_trials, common.seed, tick=lambda: bar.update(1))
    timing = sb.timing_table(table, tuple(params.timing_checkpoints), params.timing_suggestions, common.seed)

    summary = pd.concat([tab_summary, fn_summary], ignore_index=True)
    write_tables(OUT, {"summary.csv": summary, "curves.csv": pd.concat([tab_bands, fn_bands], ignore_index=True),
                       "timing.csv": timing})
    metrics = sb.headline(summary, timing)
    report = {"summary": summary.to_dict("records"), "timing": timing.to_dict("records")}
    write_results("metrics/sampler_bench.json", OUT / "report.json", report, metrics)
    log.info("%s", ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_stage(main)
