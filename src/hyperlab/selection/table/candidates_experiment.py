"""The ``candidates`` experiment: train and time every network of the architecture space.

Every network of ``architectures.enumerate_space(layers, widths)`` is trained under
``n_seeds`` seeds (:func:`hyperlab.training.trainer.train_space`), then every
(network, seed) is timed on a fixed batch of test digits
(:func:`hyperlab.training.timing.time_latency`). The result is the tabular
benchmark (docs/REFERENCES.md §1; product ``table``: one row per network and
seed, the schema of :mod:`hyperlab.selection.table.candidate_table`), the plot data (every
network's error vs latency, the true Pareto front), the report and its headline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hyperlab import engine
from hyperlab.data import to_float
from hyperlab.progress import Progress, silent
from hyperlab.report import Result
from hyperlab.selection.space import architectures
from hyperlab.selection.table import candidate_table
from hyperlab.training.mlp import init_weights
from hyperlab.training.timing import seed_slice, time_latency
from hyperlab.training.trainer import SpaceResult, TrainSettings, plan_packs, train_space

if TYPE_CHECKING:  # annotations only: the section model, never imported at run time
    from hyperlab.config import CandidatesParams

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


class Packs:
    """The training of the space as units (:mod:`hyperlab.engine`): one per pack :func:`train_space` forms.

    A unit trains its pack's networks under every seed with :func:`train_space` on that pack
    alone: within the parameter budget, so one pack, the same compiled program, the same
    numbers as in the whole-space call. Its result is JSON (errors, failures, losses,
    seconds); the trained weights stay on the worker.
    """

    def __init__(self, archs, seeds, x, y, eval_sets, train: dict):
        self.archs, self.seeds, self.x, self.y, self.eval_sets, self.train = archs, seeds, x, y, eval_sets, train

    @classmethod
    def of(cls, params: CandidatesParams, seed: int, splits: dict[str, np.ndarray]) -> Packs:
        """The space, seeds, data and training settings of the ``candidates`` params (seeds ``seed, seed + 1, ..``)."""
        x = {s: to_float(splits[f"x_{s}"]) for s in candidate_table.SETS}
        train = dict(
            epochs=params.epochs,
            batch_size=params.batch_size,
            learning_rate=params.learning_rate,
            max_pack_params=params.max_pack_params,
            eval_chunk=params.eval_chunk,
        )
        return cls(
            architectures.enumerate_space(params.layers, params.widths),
            [seed + k for k in range(params.n_seeds)],
            x["train"],
            splits["y_train"],
            [(x[s], splits[f"y_{s}"]) for s in candidate_table.SETS],
            train,
        )

    def parts(self) -> dict:
        """What the packs' results depend on besides the code (:func:`engine.study_name`)."""
        sets = [{"x": xs, "y": ys} for xs, ys in self.eval_sets]
        return {"archs": self.archs, "seeds": self.seeds, "train": self.train, "x": self.x, "y": self.y, "eval": sets}

    def keys(self) -> list[dict]:
        """The packs, as lists of network indices (:func:`plan_packs`)."""
        plan = plan_packs(self.archs, len(self.seeds), self.train["max_pack_params"])
        return [{"pack": pack} for pack in plan]

    def __call__(self, key: dict) -> dict:
        """Train one pack; its per-network arrays as lists, in the pack's order."""
        res = train_space(
            [self.archs[i] for i in key["pack"]],
            self.seeds,
            self.x,
            self.y,
            self.eval_sets,
            TrainSettings(**self.train),
        )
        fields = ("errors", "failed", "final_loss", "train_seconds")
        return {**{f: getattr(res, f).tolist() for f in fields}, "compile": res.compile_seconds, "run": res.run_seconds}

    def assemble(self, results: list[dict]) -> SpaceResult:
        """The whole space's :class:`SpaceResult` (no weights) from the packs' results."""
        n, s, k = len(self.archs), len(self.seeds), len(self.eval_sets)
        errors, failed = np.full((n, s, k), np.nan), np.ones((n, s), bool)
        final_loss, seconds = np.full((n, s), np.nan), np.zeros((n, s))
        for key, res in zip(self.keys(), results, strict=True):
            idx = key["pack"]
            errors[idx], failed[idx] = np.asarray(res["errors"], float), np.asarray(res["failed"], bool)
            final_loss[idx], seconds[idx] = np.asarray(res["final_loss"]), np.asarray(res["train_seconds"])
        compile_s, run_s = sum(r["compile"] for r in results), sum(r["run"] for r in results)
        return SpaceResult(errors, failed, final_loss, seconds, [], compile_s, run_s, len(results))


def work(params: CandidatesParams, seed: int, splits: dict[str, np.ndarray]) -> None:
    """A worker of the packs (``python stages/candidates.py --worker``, docs/distributed.md)."""
    packs = Packs.of(params, seed, splits)
    engine.work("candidates", packs.parts(), packs.keys(), packs)


def headline(report: dict) -> dict:
    """The best network's errors and the size of the true front; timings vary with the machine (report only)."""
    return {k: report[k] for k in ("best_val_error", "best_test_error", "pareto_size")}


def run(
    params: CandidatesParams,
    seed: int,
    splits: dict[str, np.ndarray],
    progress: Progress = silent,
    worker_argv: Sequence[str] = (),
) -> Result:
    """The tabular benchmark of the ``candidates`` params on ``splits`` (:func:`hyperlab.data.load_npz`).

    Seeds ``seed, seed + 1, ..``; the latency rounds' random order is seeded by ``seed``. With an
    engine configured (:mod:`hyperlab.engine`) the packs are trained by its workers
    (:class:`Packs`; ``worker_argv`` starts a local one), and latency is timed here.
    """
    start = time.perf_counter()
    packs = Packs.of(params, seed, splits)
    archs, seeds, x_test = packs.archs, packs.seeds, packs.eval_sets[candidate_table.SETS.index("test")][0]
    log.info(
        "%d networks x %d seeds, %d epochs of %d minibatches",
        len(archs),
        len(seeds),
        params.epochs,
        len(splits["y_train"]) // params.batch_size,
    )
    if not engine.distributed():
        trained = train_space(archs, seeds, packs.x, packs.y, packs.eval_sets, TrainSettings(**packs.train), progress)
        weights = [seed_slice(trained.weights[i], j) for i in range(len(archs)) for j in range(len(seeds))]
    else:
        trained = packs.assemble(engine.map_units("candidates", packs.parts(), packs.keys(), packs, worker_argv))
        # latency does not depend on the weights' values (docs/distributed.md): time fresh ones of the same shapes
        weights = [init_weights(a, s) for a in archs for s in seeds]
    log.info(
        "trained in %.1f s (%d pack(s); compile %.1f s, run %.1f s)",
        trained.compile_seconds + trained.run_seconds,
        trained.n_packs,
        trained.compile_seconds,
        trained.run_seconds,
    )

    # the fixed timing batch: the first test digits, cycled if the batch is larger
    batch = x_test[np.arange(params.latency_batch) % len(x_test)]
    t0 = time.perf_counter()
    latency = time_latency(
        [a for a in archs for _ in seeds],
        weights,
        batch,
        repeats=params.latency_repeats,
        warmup=params.latency_warmup,
        rng=np.random.default_rng(seed),
        progress=progress,
    )
    latency_seconds = time.perf_counter() - t0

    table = candidate_table.candidate_table(
        archs,
        seeds,
        max(params.layers),
        trained.errors,
        trained.failed,
        trained.train_seconds,
        latency.reshape(len(archs), len(seeds)),
        trained.final_loss,
    )
    per_net = candidate_table.per_network(table)
    report = candidate_table.summary(table, per_net)
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
