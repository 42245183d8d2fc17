"""Stage ``compare``: aggregate every strategy's trials into plot data, a report and ``metrics/search.json``.

``plots/search/``: curves (regret vs trial and vs cumulative training seconds,
hypervolume, regret under the latency budget), ``final.csv`` (a row per
strategy), ``pairwise.csv`` / ``budget_pairwise.csv`` (every strategy against
every other), ``front_quality.csv``, ``remeasured.csv`` (latency verdicts per
independent latency measurement: the table's seed mean, each seed's timing, each
round of the ``latency`` stage), ``pareto.csv`` and ``report.json`` (every
number and the verdicts). ``metrics/search.json`` keeps the headline numbers
(:func:`hyperlab.selection.compare.run`).
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


def headline(report: dict) -> dict:
    """The headline numbers of ``metrics/search.json``, read off the report (see ``verdicts.headline``)."""
    from hyperlab.selection.verdicts import headline as from_report

    return from_report(report)


def main() -> None:
    common = config.load_common()
    params = config.load_section("search")

    from hyperlab.report import write_outputs
    from hyperlab.selection import compare
    from hyperlab.selection.table import TableError
    from hyperlab.selection.trials import TrialsError

    try:
        result = compare.run(TABLE, SEARCH, LATENCY, params.strategies, params.repeats, params.n_trials,
                             target_quantile=params.target_quantile, budget_quantile=params.latency_budget_quantile,
                             n_bootstrap=params.n_bootstrap, seed=common.seed)
    except (TableError, TrialsError) as err:
        raise InputError(str(err)) from None
    write_outputs(result, OUT, "metrics/search.json")
    for line in compare.summary_lines(result):
        log.info("%s", line)


if __name__ == "__main__":
    run_stage(main)
