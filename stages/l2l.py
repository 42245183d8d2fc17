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
import time
from pathlib import Path

from hyperlab import config
from hyperlab.cli import progress, run_stage

log = logging.getLogger("hyperlab.stages.l2l")

WEIGHTS = Path("data/l2l/lstm.npz")


def headline(report: dict) -> dict:
    """Base setting at the meta-training horizon: each meta-seed's LSTM loss beside the best tuned baseline's,
    and the fewest paired wins of any meta-seed against any tuned baseline (out of ``eval_runs``)."""
    base = report["settings"]["base"]
    loss = {f"lstm_s{m}": v["loss"] for m, v in base["lstm_seeds"].items()}
    loss["best_baseline"] = base[base["best_baseline"]]["loss"]
    return {"base_loss": loss, "min_wins_vs_every_baseline": base["min_wins_vs_every_baseline"]}


def main() -> None:
    common = config.load_common()
    params = config.load_section("l2l")
    from hyperlab.data import load_npz
    from hyperlab.io import write_csv
    from hyperlab.l2l import pipeline
    from hyperlab.l2l.weights import load_weights
    from hyperlab.report import write_results

    lstm_params, cfg, seeds = load_weights(WEIGHTS)  # checked: a one-line error for a missing or damaged file
    splits = pipeline.splits_from_npz(load_npz("data/mnist.npz"))
    t0 = time.perf_counter()
    ev = pipeline.evaluate(params, common.seed, splits, lstm_params, cfg, seeds, progress=progress)
    seconds = time.perf_counter() - t0

    base = ev.curves[ev.curves.setting == "base"].dropna(subset=["loss_mean"])
    wide = base.pivot(index="step", columns="optimizer", values="loss_mean").reset_index()
    write_csv("plots/l2l/curves.csv", ev.curves)
    write_csv("plots/l2l/final.csv", ev.final)
    write_csv("plots/l2l/lr_tuning.csv", ev.tuning)
    write_csv("plots/l2l/base_loss.csv",
              wide[["step", "lstm", *(f"lstm_s{m}" for m in seeds), "adam", "sgd", "rmsprop", "nag"]])
    report = {**ev.metrics, "eval_seconds": round(seconds, 2)}
    write_results("metrics/l2l.json", "plots/l2l/report.json", report, headline(report))
    b = ev.metrics["settings"]["base"]
    for m, v in b["lstm_seeds"].items():
        log.info("step %d on test, meta-seed %s: LSTM %.4f; paired wins of %d vs %s", params.n_steps, m,
                 v["loss"], params.eval_runs, v["wins"])
    log.info("best tuned baseline %s %.4f; %d of %d meta-seeds reach the bar", b["best_baseline"],
             b[b["best_baseline"]]["loss"], b["seeds_reaching_bar"], len(seeds))


if __name__ == "__main__":
    run_stage(main)
