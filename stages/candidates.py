"""Stage ``candidates``: train and time every network of the architecture space (a tabular benchmark).

Writes ``data/candidates.csv`` (one row per network and seed), the plot data
``plots/candidates/*.csv`` (error vs latency, true Pareto front), the full summary and
timings ``plots/candidates/report.json`` and the headline numbers ``metrics/candidates.json``.
"""

from __future__ import annotations

import logging

from hyperlab import config, data
from hyperlab.cli import progress, run_stage
from hyperlab.io import write_csv
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.candidates")


def main() -> None:
    common = config.load_common()
    params = config.load_section("candidates")
    splits = data.load_npz("data/mnist.npz", config.split_sizes())
    n_train = len(splits["y_train"])
    if params.batch_size > n_train:
        raise config.ConfigError(
            f"params.yaml: candidates.batch_size: got {params.batch_size}; "
            f"must be <= the {n_train} training rows of data/mnist.npz"
        )

    from hyperlab.selection.table import candidates_experiment  # heavy imports (JAX) only once the params are good

    result = candidates_experiment.run(params, common.seed, splits, progress=progress)
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
    run_stage(main)
