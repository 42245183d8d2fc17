"""Stage ``bilevel``: n-order hypergradients (n in ``bilevel.orders``) and the exact one on the toy problem.

Writes one trajectory table per order (``plots/bilevel/order_<n>.csv``), the
exact reference (``exact.csv``), the main ``order``'s run again as
``main.csv`` (so ``dvc plots diff`` between ``-S order=...`` experiments
compares the main runs), the full results ``plots/bilevel/report.json`` and
the headline numbers ``metrics/bilevel.json``.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.bilevel")


def main() -> None:
    common = config.load_common()
    params = config.load_section("bilevel")
    # `order` in bilevel.orders is checked by config.validate_all, before every stage

    from hyperlab.bilevel.experiments import order_experiment  # JAX only after params pass

    result = order_experiment.run(params, common.order)
    write_outputs(result, "plots/bilevel", "metrics/bilevel.json")
    log.info(
        "order %d: final L_val %s, steps to L_val < %g: %s",
        common.order,
        result.report["final_L_val"],
        params.val_tol,
        result.report["steps_to_tol"],
    )


if __name__ == "__main__":
    run_stage(main)
