"""Stage ``l2l_train``: meta-train the coordinatewise LSTM optimizer on MNIST optimizees.

Writes the kept (best-on-validation) LSTM weights to ``data/l2l/lstm.npz`` (a
DVC-cached output: the ``l2l`` evaluation stage reruns without meta-training),
the meta-training curves to ``plots/l2l/meta_*.csv``, the details to
``plots/l2l/meta_report.json`` and the headline to ``metrics/l2l_train.json``.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage

log = logging.getLogger("hyperlab.stages.l2l_train")


def headline(report: dict) -> dict:
    """The kept checkpoint's validation loss at the last optimizee step (timings: report only)."""
    return {"best_val_final_loss": report["best_val_final_loss"]}


def main() -> None:
    common = config.load_common()
    params = config.load_section("l2l")

    from hyperlab.data import load_npz
    from hyperlab.io import write_csv, write_npz
    from hyperlab.l2l import pipeline
    from hyperlab.l2l.lstm_optimizer import weights_to_arrays
    from hyperlab.report import write_results

    splits = pipeline.splits_from_npz(load_npz("data/mnist.npz"))
    result = pipeline.train(params, common.seed, splits, progress=progress)
    steps, val = pipeline.history_frames(result, params.n_steps // params.unroll)
    write_npz("data/l2l/lstm.npz", **weights_to_arrays(result.best_params, pipeline.lstm_config(params)))
    write_csv("plots/l2l/meta_training.csv", steps)
    write_csv("plots/l2l/meta_validation.csv", val)
    report = {
        "meta_train_seconds": round(result.seconds, 2),
        "meta_steps": params.meta_steps,
        "meta_steps_per_second": round(params.meta_steps / result.seconds, 4),
        "best_meta_step": result.best_step,
        "best_val_final_loss": result.best_val,
        "untrained_val_final_loss": float(val["val_loss"].iloc[0]),
        "skipped_updates": result.n_skipped,
    }
    write_results("metrics/l2l_train.json", "plots/l2l/meta_report.json", report, headline(report))
    log.info("kept the LSTM of meta-step %d (val loss at step %d: %.4f) after %.1f s",
             result.best_step, params.n_steps, result.best_val, result.seconds)


if __name__ == "__main__":
    run_stage(main)
