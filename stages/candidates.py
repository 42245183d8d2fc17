"""Stage ``candidates``: train and time every network of the architecture space (a tabular benchmark).

Writes ``data/candidates.csv`` (one row per network and seed), the plot data
``plots/candidates/*.csv`` (error vs latency, true Pareto front), the full summary and
timings ``plots/candidates/report.json`` and the headline numbers ``metrics/candidates.json``.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from hyperlab import config, data
from hyperlab.cli import progress, run_stage
from hyperlab.io import write_csv
from hyperlab.report import write_results
from hyperlab.selection import space

log = logging.getLogger("hyperlab.stages.candidates")


def headline(report: dict) -> dict:
    """The best network's errors and the size of the true front; timings vary with the machine (report only)."""
    return {k: report[k] for k in ("best_val_error", "best_test_error", "pareto_size")}


def main() -> None:
    start = time.perf_counter()
    common = config.load_common()
    params = config.load_section("candidates")
    splits = data.load_npz("data/mnist.npz")
    n_train = len(splits["y_train"])
    if params.batch_size > n_train:
        raise config.ConfigError(f"params.yaml: candidates.batch_size: got {params.batch_size}; "
                                 f"must be <= the {n_train} training rows of data/mnist.npz")

    # heavy imports (JAX) only once the params are known to be good
    from hyperlab import nets
    from hyperlab.selection import candidates

    archs = space.enumerate_space(params.layers, params.widths)
    seeds = [common.seed + k for k in range(params.n_seeds)]
    x = {s: data.to_float(splits[f"x_{s}"]) for s in candidates.SETS}
    log.info("%d networks x %d seeds, %d epochs of %d minibatches", len(archs), len(seeds), params.epochs,
             n_train // params.batch_size)

    trained = nets.train_space(archs, seeds, x["train"], splits["y_train"],
                               [(x[s], splits[f"y_{s}"]) for s in candidates.SETS],
                               epochs=params.epochs, batch_size=params.batch_size,
                               learning_rate=params.learning_rate, max_pack_params=params.max_pack_params,
                               eval_chunk=params.eval_chunk, progress=progress)
    log.info("trained in %.1f s (%d pack(s); compile %.1f s, run %.1f s)",
             trained.compile_seconds + trained.run_seconds, trained.n_packs, trained.compile_seconds,
             trained.run_seconds)

    # the fixed timing batch: the first test digits, cycled if the batch is larger
    batch = x["test"][np.arange(params.latency_batch) % len(x["test"])]
    rows = [(a, nets.seed_slice(trained.params[i], j)) for i, a in enumerate(archs) for j in range(len(seeds))]
    t0 = time.perf_counter()
    latency = nets.time_latency([a for a, _ in rows], [p for _, p in rows], batch,
                                repeats=params.latency_repeats, warmup=params.latency_warmup,
                                rng=np.random.default_rng(common.seed), progress=progress)
    latency_seconds = time.perf_counter() - t0

    table = candidates.candidate_table(archs, seeds, max(params.layers), trained.errors, trained.failed,
                                       trained.train_seconds, latency.reshape(len(archs), len(seeds)),
                                       trained.final_loss)
    per_net = candidates.per_network(table)
    metrics = candidates.summary(table, per_net)
    metrics.update(wall_seconds=round(time.perf_counter() - start, 2),
                   train_seconds=round(trained.run_seconds, 2), compile_seconds=round(trained.compile_seconds, 2),
                   latency_seconds=round(latency_seconds, 2), n_packs=trained.n_packs,
                   n_seeds=len(seeds), epochs=params.epochs)
    write_csv("plots/candidates/scatter.csv",
              per_net[["arch", "n_layers", "n_params", "flops", "latency_ms", "val_error", "val_error_std",
                       "test_error", "pareto"]])
    write_csv("plots/candidates/pareto.csv",
              per_net[per_net["pareto"]].sort_values("latency_ms")[["arch", "latency_ms", "val_error", "test_error"]])
    write_csv("data/candidates.csv", table)
    write_results("metrics/candidates.json", "plots/candidates/report.json", metrics, headline(metrics))
    log.info("best validation error %.4f (%s); latency %.3f-%.3f ms; %d failed rows; %.1f s",
             metrics["best_val_error"] if metrics["best_val_error"] is not None else float("nan"),
             metrics["best_arch"], metrics["latency_ms_min"], metrics["latency_ms_max"], metrics["n_failed"],
             metrics["wall_seconds"])


if __name__ == "__main__":
    run_stage(main)
