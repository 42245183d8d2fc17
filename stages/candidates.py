"""Stage ``candidates``: train and time every network of the architecture space (a tabular benchmark).

Writes ``data/candidates.csv`` (one row per network and seed), the plot data
``plots/candidates/*.csv`` (error vs latency, true Pareto front), the full summary and
timings ``plots/candidates/report.json`` and the headline numbers ``metrics/candidates.json``.
``--worker``: a worker of the packs on a shared storage (``HYPERLAB_ENGINE``, docs/distributed.md),
which writes nothing.
"""

from __future__ import annotations

import logging
import sys

from hyperlab import config, data, engine
from hyperlab.cli import InputError, progress, run_stage
from hyperlab.io import write_csv
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.candidates")


def inputs():
    """The params and data every process of the stage reads (the coordinator and its workers alike)."""
    common = config.load_common()
    params = config.load_section("candidates")
    splits = data.load_npz("data/mnist.npz", config.split_sizes())
    n_train = len(splits["y_train"])
    if params.batch_size > n_train:
        raise config.ConfigError(
            f"params.yaml: candidates.batch_size: got {params.batch_size}; "
            f"must be <= the {n_train} training rows of data/mnist.npz"
        )
    return params, common.seed, splits


def worker() -> None:
    """``python stages/candidates.py --worker``: train the stage's packs (docs/distributed.md)."""
    from hyperlab.selection.table import candidates_experiment

    candidates_experiment.work(*inputs())


def main() -> None:
    params, seed, splits = inputs()
    from hyperlab.selection.table import candidates_experiment  # heavy imports (JAX) only once the params are good

    argv = [sys.executable, __file__, "--worker"]  # a local worker (HYPERLAB_LOCAL_WORKERS)
    result = candidates_experiment.run(params, seed, splits, progress=progress, worker_argv=argv)
    write_csv("data/candidates.csv", result.products["table"])
    # plots/candidates is the stage's own folder (dvc.yaml out): write_tables replaces its CSVs
    write_outputs(result, "plots/candidates", "metrics/candidates.json")
    r = result.report
    log.info(
        "best validation error %.4f (%s); latency %.3f-%.3f ms; %d failed rows; %.1f s",
        r["best_val_error"] if r["best_val_error"] is not None else float("nan"),
        r["best_arch"],
        r["latency_ms_min"],
        r["latency_ms_max"],
        r["n_failed"],
        r["wall_seconds"],
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        engine.run_worker(worker, (config.ConfigError, InputError))
    else:
        run_stage(main)
