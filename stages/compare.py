"""Stage ``compare``: aggregate every strategy's trials into plot data and ``metrics/search.json``.

The full final-budget summary goes to ``plots/search/report.json`` (and
``plots/search/final.csv``); ``metrics/search.json`` keeps one number per strategy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import InputError, run_stage

log = logging.getLogger("hyperlab.stages.compare")
TABLE = "data/candidates.csv"
OUT = Path("plots/search")


def headline(report: dict) -> dict:
    """Each strategy's median simple regret at the final budget: the number the strategies are ranked by."""
    return {"median_regret": {name: s["median_regret"] for name, s in report["strategies"].items()}}


def main() -> None:
    params = config.load_section("search")

    from hyperlab.io import write_tables
    from hyperlab.report import write_results
    from hyperlab.selection.benchmark import TableError, load_table, network_summary
    from hyperlab.selection.metrics import TrialsError, compare, load_trials

    try:
        nets = network_summary(load_table(TABLE))
        trials = {strategy: load_trials(f"data/search/{strategy}.csv", strategy, params.repeats, params.n_trials,
                                        nets.index)
                  for strategy in params.strategies}
    except (TableError, TrialsError) as err:
        raise InputError(str(err)) from None
    result = compare(trials, nets, target_quantile=params.target_quantile)
    write_tables(OUT, {f"{name}.csv": getattr(result, name)
                       for name in ("regret_vs_trial", "regret_vs_cost", "hypervolume_vs_trial", "final", "pareto")})
    write_results("metrics/search.json", OUT / "report.json", result.metrics, headline(result.metrics))
    for row in result.final.itertuples(index=False):
        log.info("%-17s regret %.4f  test %.4f  latency %.3f ms  hv %.3f  rank %.2f", row.strategy,
                 row.median_regret, row.median_test_error, row.median_latency_ms, row.median_hv_ratio,
                 row.mean_rank)


if __name__ == "__main__":
    run_stage(main)
