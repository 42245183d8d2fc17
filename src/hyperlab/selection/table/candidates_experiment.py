"""The ``candidates`` experiment: train and time every network of the architecture space.

Every network of ``architectures.enumerate_space(layers, widths)`` is trained under
``n_seeds`` seeds (:func:`hyperlab.training.trainer.train_space`), then every
(network, seed) is timed on a fixed batch of test digits
(:func:`hyperlab.training.latency.time_latency`). The result is the tabular
benchmark (docs/REFERENCES.md §1; product ``table``: one row per network and
seed, the schema of :mod:`hyperlab.selection.table.candidates`), the plot data (every
network's error vs latency, the true Pareto front), the report and its headline.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from hyperlab.data import to_float
from hyperlab.progress import Progress, silent
from hyperlab.report import Result
from hyperlab.selection.space import architectures
from hyperlab.selection.table import candidates
from hyperlab.training.latency import seed_slice, time_latency
from hyperlab.training.trainer import train_space

log = logging.getLogger("hyperlab.candidates")

SCATTER_COLUMNS = [
    "arch",
    "n_layers",
    "n_params",
    "flops",
    "latency_ms",
    "val_error",
    "val_error_std",
    "test_error",
    "pareto",
]
PARETO_COLUMNS = ["arch", "latency_ms", "val_error", "test_error"]


def headline(report: dict) -> dict:
    """The best network's errors and the size of the true front; timings vary with the machine (report only)."""
    return {k: report[k] for k in ("best_val_error", "best_test_error", "pareto_size")}


def run(params, seed: int, splits: dict[str, np.ndarray], progress: Progress = silent) -> Result:
    """The tabular benchmark of the ``candidates`` params on ``splits`` (:func:`hyperlab.data.load_npz`).

    Seeds ``seed, seed + 1, ..``; the latency rounds' random order is seeded by ``seed``.
    """
    start = time.perf_counter()
    archs = architectures.enumerate_space(params.layers, params.widths)
    seeds = [seed + k for k in range(params.n_seeds)]
    x = {s: to_float(splits[f"x_{s}"]) for s in candidates.SETS}
    log.info(
        "%d networks x %d seeds, %d epochs of %d minibatches",
        len(archs),
        len(seeds),
        params.epochs,
        len(splits["y_train"]) // params.batch_size,
    )

    trained = train_space(
        archs,
        seeds,
        x["train"],
        splits["y_train"],
        [(x[s], splits[f"y_{s}"]) for s in candidates.SETS],
        epochs=params.epochs,
        batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        max_pack_params=params.max_pack_params,
        eval_chunk=params.eval_chunk,
        progress=progress,
    )
    log.info(
        "trained in %.1f s (%d pack(s); compile %.1f s, run %.1f s)",
        trained.compile_seconds + trained.run_seconds,
        trained.n_packs,
        trained.compile_seconds,
        trained.run_seconds,
    )

    # the fixed timing batch: the first test digits, cycled if the batch is larger
    batch = x["test"][np.arange(params.latency_batch) % len(x["test"])]
    rows = [(a, seed_slice(trained.params[i], j)) for i, a in enumerate(archs) for j in range(len(seeds))]
    t0 = time.perf_counter()
    latency = time_latency(
        [a for a, _ in rows],
        [p for _, p in rows],
        batch,
        repeats=params.latency_repeats,
        warmup=params.latency_warmup,
        rng=np.random.default_rng(seed),
        progress=progress,
    )
    latency_seconds = time.perf_counter() - t0

    table = candidates.candidate_table(
        archs,
        seeds,
        max(params.layers),
        trained.errors,
        trained.failed,
        trained.train_seconds,
        latency.reshape(len(archs), len(seeds)),
        trained.final_loss,
    )
    per_net = candidates.per_network(table)
    report = candidates.summary(table, per_net)
    report.update(
        wall_seconds=round(time.perf_counter() - start, 2),
        train_seconds=round(trained.run_seconds, 2),
        compile_seconds=round(trained.compile_seconds, 2),
        latency_seconds=round(latency_seconds, 2),
        n_packs=trained.n_packs,
        n_seeds=len(seeds),
        epochs=params.epochs,
    )
    tables = {
        "scatter.csv": per_net[SCATTER_COLUMNS],
        "pareto.csv": per_net[per_net["pareto"]].sort_values("latency_ms")[PARETO_COLUMNS],
    }
    return Result(tables, headline(report), report, products={"table": table})
