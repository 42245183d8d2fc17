"""Stage ``l2l_train``: meta-train the coordinatewise LSTM optimizer on MNIST optimizees.

One LSTM per meta-seed (``l2l.meta_seeds`` of them, vmapped in one program).
Writes the kept (best-on-validation) weights of every meta-seed, stacked, to
``data/l2l/lstm.npz`` (committed: the ``l2l`` evaluation stage reruns without
meta-training), the meta-training curves per seed to ``plots/l2l/meta_*.csv``,
the details to ``plots/l2l/meta_report.json`` and the headline to
``metrics/l2l_train.json``.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage

log = logging.getLogger("hyperlab.stages.l2l_train")


def headline(report: dict) -> dict:
    """The worst meta-seed's kept validation loss at the last optimizee step (per seed, timings: report)."""
    return {"best_val_final_loss_worst_seed": max(s["best_val_final_loss"] for s in report["seeds"].values())}


def main() -> None:
    common = config.load_common()
    params = config.load_section("l2l")

    import jax
    import numpy as np

    from hyperlab.data import load_npz
    from hyperlab.io import write_csv, write_npz
    from hyperlab.l2l import pipeline
    from hyperlab.l2l.lstm_optimizer import weights_to_arrays
    from hyperlab.report import write_results

    splits = pipeline.splits_from_npz(load_npz("data/mnist.npz"))
    seeds = pipeline.meta_seeds(params, common.seed)
    results = pipeline.train(params, common.seed, splits, progress=progress)
    steps, val = pipeline.history_frames(results, params.n_steps // params.unroll, seeds)
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *(r.best_params for r in results))
    write_npz("data/l2l/lstm.npz", meta_seeds=np.asarray(seeds, dtype=np.int64),
              **weights_to_arrays(stacked, pipeline.lstm_config(params)))
    write_csv("plots/l2l/meta_training.csv", steps)
    write_csv("plots/l2l/meta_validation.csv", val)
    seconds = results[0].seconds
    report = {
        "meta_train_seconds": round(seconds, 2),
        "meta_seeds": seeds,
        "meta_steps": params.meta_steps,
        "meta_steps_per_second": round(params.meta_steps / seconds, 4),
        "seed_meta_steps_per_second": round(len(seeds) * params.meta_steps / seconds, 4),
        "val_runs_per_check": params.val_runs,
        "val_checks": int(len(val) // len(seeds)),
        "seeds": {str(m): {"best_meta_step": r.best_step, "best_val_final_loss": r.best_val,
                           "best_val_se": r.best_val_se,
                           "untrained_val_final_loss": r.history["val_loss"][0],
                           "skipped_updates": r.n_skipped} for m, r in zip(seeds, results)},
    }
    write_results("metrics/l2l_train.json", "plots/l2l/meta_report.json", report, headline(report))
    for m, r in zip(seeds, results):
        log.info("meta-seed %d: kept meta-step %d (val loss at step %d: %.4f +- %.4f)", m, r.best_step,
                 params.n_steps, r.best_val, r.best_val_se)
    log.info("%d meta-seeds x %d meta-steps in %.1f s", len(seeds), params.meta_steps, seconds)


if __name__ == "__main__":
    run_stage(main)
