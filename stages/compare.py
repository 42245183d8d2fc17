"""Stage ``compare``: aggregate every strategy's trials into plot data, a report and ``metrics/search.json``.

``plots/search/``: curves (the three regrets -- search, observed incumbent,
GP recommendation -- vs trial, regret vs cumulative training seconds,
hypervolume, regret under the latency budget), ``final.csv`` (a row per
strategy), ``pairwise.csv`` / ``budget_pairwise.csv`` (every strategy against
every other), ``paired_verdicts.csv`` (every paired test on every table
realization, and whether it holds on all), ``front_quality.csv``, ``remeasured.csv`` (latency verdicts per
independent latency measurement: the table's seed mean, each seed's timing, each
round of the ``latency`` stage), ``pareto.csv`` and ``report.json`` (every
number and the verdicts). ``metrics/search.json`` keeps the headline numbers
(:func:`hyperlab.selection.analysis.compare.run`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import InputError, run_stage

log = logging.getLogger("hyperlab.stages.compare")
TABLE = "data/candidates.csv"
SEARCH = "data/search"  # one <strategy>.csv per search@<strategy> stage
LATENCY = "data/latency.csv"  # the latency stage's independent re-timings
OUT = Path("plots/search")


def main() -> None:
    common = config.load_common()
    params = config.load_section("search")
    candidates = config.load_section("candidates")

    from hyperlab.report import write_outputs
    from hyperlab.selection.analysis import compare
    from hyperlab.selection.study.trials import TrialsError, load_latency, load_trials
    from hyperlab.selection.table.table import ExpectedRows, load_table
    from hyperlab.selection.table.validate import TableError

    n_real = params.table_realizations
    try:
        table = load_table(TABLE, ExpectedRows.of(candidates, common.seed))
        trials = {
            s: load_trials(f"{SEARCH}/{s}.csv", s, params.repeats, params.n_trials, table, n_real)
            for s in params.strategies
        }
        rounds = load_latency(LATENCY, table.archs, params.latency_rounds)
        result = compare.run(params, compare.Searches(table, trials, rounds, n_real), common.seed)
    except (TableError, TrialsError, compare.CompareError) as err:
        raise InputError(str(err)) from None
    write_outputs(result, OUT, "metrics/search.json")
    for line in compare.summary_lines(result):
        log.info("%s", line)


if __name__ == "__main__":
    run_stage(main)
