"""Stage ``hpo_sweep``: hypergradients against search with d varied alone, within one kind of hyperparameter.

The ``hpo_scale`` problem, budgets and settings, on the learning-rate schedule in K knots
and on the per-weight L2 tied in G blocks (``hpo_sweep.lr_knots``, ``hpo_sweep.l2_groups``);
the members that are ``hpo_scale`` families are read from ``plots/hpo_scale``, which must
come from the same params. Writes ``plots/hpo_sweep/*.csv`` (runs and summary per budget
view), ``plots/hpo_sweep/report.json`` (the crossover per kind, scale and view) and
``metrics/hpo_sweep.json``. ``--worker``: a worker of the runs on a shared storage
(``HYPERLAB_ENGINE``, docs/distributed.md), which writes nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pandas as pd

from hyperlab import config, engine
from hyperlab.cli import InputError, progress, run_stage
from hyperlab.data import load_npz
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.hpo_sweep")
OUT = Path("plots/hpo_sweep")
SCALE = Path("plots/hpo_scale")
#: the ``hpo`` keys the runs depend on (the ``hpo_scale`` and ``hpo_sweep`` stages' params in dvc.yaml)
PROBLEM_KEYS = ("hidden", "n_train", "T", "lr0", "l2_0", "l2_box", "lr_box", "tune_lr")


def scale_tables(problem, scale) -> dict[str, pd.DataFrame]:
    """``hpo_scale``'s runs tables, refused in one line unless its report was made with these params."""
    path = SCALE / "report.json"
    if not path.is_file():
        raise InputError(f"{path}: missing; run `dvc repro hpo_scale` first")
    report = json.loads(path.read_text())
    made, now = report.get("problem") or {}, problem.model_dump(mode="json")
    if report.get("params") != scale.model_dump(mode="json") or any(made.get(k) != now[k] for k in PROBLEM_KEYS):
        raise InputError(f"{path}: made with other hpo / hpo_scale params; run `dvc repro hpo_scale` first")
    from hyperlab.hpo.scale_experiment import TABLES

    return {runs: pd.read_csv(SCALE / runs) for runs, _ in TABLES.values()}


def inputs():
    """The params and data every process of the stage reads (the coordinator and its workers alike)."""
    common = config.load_common()
    problem = config.load_section("hpo")
    scale = config.load_section("hpo_scale")
    sweep = config.load_section("hpo_sweep")
    scale.check_against(problem)
    arrays = load_npz("data/mnist.npz", config.split_sizes())
    from hyperlab.hpo.families import n_kernel_weights
    from hyperlab.hpo.problem import initial_weights, network_sizes

    tree, _ = initial_weights(network_sizes(problem.hidden), common.seed)
    sweep.check_against(problem, scale, n_kernel_weights(tree))
    import jax

    jax.config.update("jax_enable_x64", True)  # as hpo_scale runs: its rows and these come from one setting
    return problem, scale, sweep, arrays, common.seed


def worker() -> None:
    """``python stages/hpo_sweep.py --worker``: work on the stage's runs (docs/distributed.md)."""
    from hyperlab.hpo import sweep_experiment

    problem, scale, sweep, arrays, seed = inputs()
    sweep_experiment.work(problem, scale, sweep, arrays, seed)


def main() -> None:
    problem, scale, sweep, arrays, seed = inputs()
    tables = scale_tables(problem, scale)
    from hyperlab.hpo import sweep_experiment

    argv = [sys.executable, __file__, "--worker"]  # a local worker (HYPERLAB_LOCAL_WORKERS)
    result = sweep_experiment.run(problem, scale, sweep, arrays, tables, seed, progress=progress, worker_argv=argv)
    write_outputs(result, OUT, "metrics/hpo_sweep.json")
    log.info("wrote %d tables and report.json to %s, and metrics/hpo_sweep.json", len(result.tables), OUT)


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        engine.run_worker(worker, (config.ConfigError, InputError))
    else:
        run_stage(main)
