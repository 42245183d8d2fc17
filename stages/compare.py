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

    import pandas as pd

    from hyperlab.io import write_csv
    from hyperlab.report import write_results
    from hyperlab.selection.benchmark import TableError, load_table, network_summary
    from hyperlab.selection.metrics import compare

    try:
        nets = network_summary(load_table(TABLE))
    except TableError as err:
        raise InputError(str(err)) from None
    trials = {}
    for strategy in params.strategies:
        path = Path(f"data/search/{strategy}.csv")
        if not path.is_file():
            raise InputError(f"{path}: not found; run `python stages/search.py {strategy}` first")
        frame = pd.read_csv(path, dtype={"arch": str})
        counts = frame.groupby("repeat")["trial"].nunique() if len(frame) else pd.Series(dtype=int)
        if frame["repeat"].nunique() != params.repeats or (counts != params.n_trials).any():
            raise InputError(f"{path}: has {frame['repeat'].nunique()} repeats of {sorted(set(counts))} trials, "
                             f"params ask {params.repeats} x {params.n_trials}; rerun search@{strategy}")
        trials[strategy] = frame
    result = compare(trials, nets, target_quantile=params.target_quantile)
    for name in ("regret_vs_trial", "regret_vs_cost", "hypervolume_vs_trial", "final", "pareto"):
        write_csv(OUT / f"{name}.csv", getattr(result, name))
    write_results("metrics/search.json", OUT / "report.json", result.metrics, headline(result.metrics))
    for row in result.final.itertuples(index=False):
        log.info("%-17s regret %.4f  test %.4f  latency %.3f ms  hv %.3f  rank %.2f", row.strategy,
                 row.median_regret, row.median_test_error, row.median_latency_ms, row.median_hv_ratio,
                 row.mean_rank)


if __name__ == "__main__":
    run_stage(main)
