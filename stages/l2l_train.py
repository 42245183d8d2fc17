"""Stage ``l2l_train``: meta-train the coordinatewise LSTM optimizer on MNIST optimizees.

One LSTM per meta-seed (``l2l.meta_seeds`` of them, vmapped in one program).
Writes the kept (best-on-validation) weights of every meta-seed, stacked, to
``data/l2l/lstm.npz`` (committed: the ``l2l`` evaluation stage reruns without
meta-training), the meta-training curves per seed to ``plots/l2l/meta_*.csv``,
and the details to ``plots/l2l/meta_report.json``. No metrics: its headline
numbers are the ``l2l`` stage's, on the test split.
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
    for m, s in result.report["seeds"].items():
        log.info(
            "meta-seed %s: kept meta-step %d (val loss at step %d: %.4f +- %.4f)",
            m,
            s["best_meta_step"],
            params.n_steps,
            s["best_val_final_loss"],
            s["best_val_se"],
        )
    log.info(
        "%d meta-seeds x %d meta-steps in %.1f s",
        len(result.report["meta_seeds"]),
        params.meta_steps,
        result.report["meta_train_seconds"],
    )


if __name__ == "__main__":
    run_stage(main)
