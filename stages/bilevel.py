"""Stage ``bilevel``: n-order hypergradients (n in ``bilevel.orders``) and the exact one on the toy problem.

Writes one trajectory table per order (``plots/bilevel/order_<n>.csv``), the
exact reference (``exact.csv``), the main ``order``'s run again as
``main.csv`` (so ``dvc plots diff`` between ``-S order=...`` experiments
compares the main runs), the full results ``plots/bilevel/report.json`` and
the headline numbers ``metrics/bilevel.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.io import write_tables
from hyperlab.report import write_results

log = logging.getLogger("hyperlab.stages.bilevel")
PLOTS = Path("plots/bilevel")
METRICS = Path("metrics/bilevel.json")


def headline(report: dict) -> dict:
    """What `dvc exp show` compares: how well and how fast the main order and the exact hypergradient do."""
    return {"final_L_val": report["final_L_val"], "steps_to_tol": report["steps_to_tol"],
            "exact_steps_to_tol": report["exact"]["steps_to_tol"]}


def main() -> None:
    common = config.load_common()
    params = config.load_section("bilevel")
    # `order` in bilevel.orders is checked by config.validate_all, before every stage

    from hyperlab.bilevel import order_experiment as experiment  # JAX only after params pass

    result = experiment.run(params, common.order)
    tables = {f"{name}.csv": frame for name, frame in result.tables.items()}
    tables["main.csv"] = result.tables[f"order_{common.order}"]
    write_tables(PLOTS, tables)
    write_results(METRICS, PLOTS / "report.json", result.metrics, headline(result.metrics))
    log.info("order %d: final L_val %s, steps to L_val < %g: %s", common.order, result.metrics["final_L_val"],
             params.val_tol, result.metrics["steps_to_tol"])


if __name__ == "__main__":
    run_stage(main)
