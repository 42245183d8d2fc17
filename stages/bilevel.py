"""Stage ``bilevel``: n-order hypergradients (n in ``bilevel.orders``) and the exact one on the toy problem.

Writes one trajectory table per order (``plots/bilevel/order_<n>.csv``), the
exact reference (``exact.csv``), the main ``order``'s run again as
``main.csv`` (so ``dvc plots diff`` between ``-S order=...`` experiments
compares the main runs), and ``metrics/bilevel.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.io import write_csv, write_json

log = logging.getLogger("hyperlab.stages.bilevel")
PLOTS = Path("plots/bilevel")
METRICS = Path("metrics/bilevel.json")


def main() -> None:
    common = config.load_common()
    params = config.load_section("bilevel")
    # `order` in bilevel.orders is checked by config.validate_all, before every stage

    from hyperlab.bilevel import order_experiment as experiment  # JAX only after params pass

    result = experiment.run(params, common.order)
    # Only this stage writes here: drop tables of orders no longer in the params.
    for stale in PLOTS.glob("*.csv") if PLOTS.is_dir() else ():
        if stale.stem not in result.tables and stale.stem != "main":
            stale.unlink()
    for name, frame in result.tables.items():
        write_csv(PLOTS / f"{name}.csv", frame)
    write_csv(PLOTS / "main.csv", result.tables[f"order_{common.order}"])
    write_json(METRICS, result.metrics)
    log.info("order %d: final L_val %s, steps to L_val < %g: %s", common.order, result.metrics["final_L_val"],
             params.val_tol, result.metrics["steps_to_tol"])


if __name__ == "__main__":
    run_stage(main)
