"""Stage ``l2l_train``: meta-train the coordinatewise LSTM optimizer under each recipe, and its budget curve.

For each recipe of ``l2l.recipes`` one LSTM per meta-seed (``l2l.meta_seeds``,
in one program), meta-trained for that recipe's meta-updates; the weights kept
after each of ``l2l.budgets`` are scored on fresh val-split optimizees against
the tuned baselines. Writes the chosen setting's weights (one LSTM per
meta-seed, stacked) to ``data/l2l/lstm.npz`` (committed: the ``l2l`` evaluation
stage reruns without meta-training), the curve to ``plots/l2l/budget.csv``, the
meta-training curves to ``plots/l2l/meta_*.csv`` and the details to
``plots/l2l/meta_report.json``. No metrics: its headline numbers are the
``l2l`` stage's, on the test split. Frozen in dvc.yaml (about 45 minutes on 2 cores).
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage

log = logging.getLogger("hyperlab.stages.l2l_train")


def main() -> None:
    common = config.load_common()
    params = config.load_section("l2l")

    from hyperlab.data import load_npz
    from hyperlab.io import write_npz
    from hyperlab.l2l import train_experiment  # JAX only after the params are known to be good
    from hyperlab.report import write_outputs

    result = train_experiment.run(
        params, common.seed, load_npz("data/mnist.npz", config.split_sizes()), progress=progress
    )
    write_npz("data/l2l/lstm.npz", **result.products["weights"])
    # plots/l2l is shared with the l2l stage: each table is written on its own
    write_outputs(result, "plots/l2l", None, report_name="meta_report.json", own_folder=False)
    chosen = result.report["chosen"]
    log.info(
        "%s; the l2l stage evaluates %s at %d meta-updates", chosen["verdict"], chosen["recipe"], chosen["meta_updates"]
    )
    for name, r in result.report["recipes"].items():
        log.info(
            "%s: %d meta-updates x %d meta-seeds in %.1f s",
            name,
            r["meta_steps"],
            params.meta_seeds,
            r["meta_train_seconds"],
        )


if __name__ == "__main__":
    run_stage(main)
