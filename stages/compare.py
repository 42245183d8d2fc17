"""Stage ``compare``: aggregate every strategy's trials into plot data, a report and ``metrics/search.json``.

``plots/search/``: curves (regret vs trial and vs cumulative training seconds,
hypervolume, regret under the latency budget), ``final.csv`` (a row per
strategy), ``pairwise.csv`` / ``budget_pairwise.csv`` (every strategy against
every other), ``front_quality.csv``, ``remeasured.csv`` (latency verdicts per
independent latency measurement: the table's seed mean, each seed's timing, each
round of the ``latency`` stage), ``pareto.csv`` and ``report.json`` (every
number and the verdicts). ``metrics/search.json`` keeps the headline numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import InputError, run_stage

log = logging.getLogger("hyperlab.stages.compare")
TABLE = "data/candidates.csv"
LATENCY = "data/latency.csv"  # the latency stage's independent re-timings
OUT = Path("plots/search")


def headline(report: dict) -> dict:
    """The headline numbers of ``metrics/search.json``, read off the report (see ``metrics.headline``)."""
    from hyperlab.selection.metrics import headline as from_report

    return from_report(report)


def main() -> None:
    common = config.load_common()
    params = config.load_section("search")

    from hyperlab.io import write_tables
    from hyperlab.report import write_results
    from hyperlab.selection.benchmark import TableError, load_table, network_summary
    from hyperlab.selection.metrics import TrialsError, compare, load_latency, load_trials

    try:
        table = load_table(TABLE)
        nets = network_summary(table)
        trials = {strategy: load_trials(f"data/search/{strategy}.csv", strategy, params.repeats, params.n_trials,
                                        nets.index)
                  for strategy in params.strategies}
        rounds = load_latency(LATENCY, nets.index)
    except (TableError, TrialsError) as err:
        raise InputError(str(err)) from None
    result = compare(trials, nets, target_quantile=params.target_quantile,
                     budget_quantile=params.latency_budget_quantile, n_bootstrap=params.n_bootstrap,
                     seed=common.seed, table=table, remeasurements=rounds)
    write_tables(OUT, result.tables)
    write_results("metrics/search.json", OUT / "report.json", result.report, result.metrics)
    for row in result.tables["final.csv"].itertuples(index=False):
        log.info("%-17s regret %.4f [%.4f, %.4f] p_holm %s  repeats %.1f  budget regret %.4f  hv log %.3f lin %.3f"
                 "  front %.2f  igd+ %.3f", row.strategy, row.median_regret, row.regret_ci_low, row.regret_ci_high,
                 "-" if row.p_holm is None or row.p_holm != row.p_holm else f"{row.p_holm:.3f}",
                 row.repeats_per_study, row.budget_median_regret, row.median_hv_ratio_log,
                 row.median_hv_ratio_linear, row.median_front_share, row.median_igd_plus)
    for key, text in result.report["verdicts"].items():
        log.info("%s: %s", key, text)


if __name__ == "__main__":
    run_stage(main)
