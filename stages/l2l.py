"""Stage ``l2l``: the learned LSTM optimizer against tuned SGD / Adam / RMSprop / NAG on MNIST.

Reads the meta-trained weights ``data/l2l/lstm.npz`` (stage ``l2l_train``; one LSTM per meta-seed),
tunes each baseline's learning rate on the validation split, runs every
optimizer from ``eval_runs`` fresh inits on the held-out test split in the base
setting (for ``long_steps``) and in each generalization setting, and writes
``plots/l2l/{curves,final,lr_tuning,base_loss}.csv``, the full results
``plots/l2l/report.json`` and the headline ``metrics/l2l.json``.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage

log = logging.getLogger("hyperlab.stages.l2l")

WEIGHTS = "data/l2l/lstm.npz"


def main() -> None:
    common = config.load_common()
    params = config.load_section("l2l")
    from hyperlab.data import load_npz
    from hyperlab.l2l import eval_experiment, protocol  # JAX only after the params are known to be good
    from hyperlab.l2l.weights import load_weights
    from hyperlab.report import write_outputs

    # checked: a one-line error for a missing, damaged or foreign file (other meta-seeds than the params ask for)
    weights = load_weights(WEIGHTS, protocol.meta_seeds(params, common.seed))
    result = eval_experiment.run(
        params, common.seed, load_npz("data/mnist.npz", config.split_sizes()), weights, progress=progress
    )
    # plots/l2l is shared with the l2l_train stage: each table is written on its own
    write_outputs(result, "plots/l2l", "metrics/l2l.json", own_folder=False)
    b = result.report["settings"]["base"]
    for m, v in b["lstm_seeds"].items():
        log.info(
            "step %d on test, meta-seed %s: LSTM %.4f; paired wins of %d vs %s",
            params.n_steps,
            m,
            v["loss"],
            params.eval_runs,
            v["wins"],
        )
    log.info("LSTMs meta-trained with the %s recipe for %d meta-updates", weights.recipe, weights.meta_updates)
    log.info(
        "best tuned baseline %s %.4f; %d of %d meta-seeds reach the bar",
        b["best_baseline"],
        b[b["best_baseline"]]["loss"],
        b["seeds_reaching_bar"],
        len(weights.meta_seeds),
    )


if __name__ == "__main__":
    run_stage(main)
