"""Stage ``hpo_scale``: hypergradients against Bayesian optimization on hyperparameter families of growing dimension.

The ``hpo`` stage's MNIST problem (network, training digits, T, boxes, h0) with h
growing from 3 coordinates to one L2 coefficient per weight. Writes
``plots/hpo_scale/*.csv`` (runs, summary, hypergradient accuracy), the full results
``plots/hpo_scale/report.json`` (crossover and verdicts) and the headline numbers
``metrics/hpo_scale.json`` (at the inner-step budget: deterministic; wall-clock columns
depend on the machine). ``--worker``: a worker of the runs on a shared storage
(``HYPERLAB_ENGINE``, docs/distributed.md), which writes nothing.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hyperlab import config, engine
from hyperlab.cli import InputError, progress, run_stage
from hyperlab.data import load_npz
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.hpo_scale")
OUT = Path("plots/hpo_scale")


def inputs():
    """The params and data every process of the stage reads (the coordinator and its workers alike)."""
    common = config.load_common()
    problem = config.load_section("hpo")
    params = config.load_section("hpo_scale")
    params.check_against(problem)
    arrays = load_npz("data/mnist.npz", config.split_sizes())

    import jax  # heavy imports only after the params are known to be good

    jax.config.update("jax_enable_x64", True)  # for the float64 checks; every run is explicitly float32
    return problem, params, arrays, common.seed


def worker() -> None:
    """``python stages/hpo_scale.py --worker``: work on the stage's runs (docs/distributed.md)."""
    from hyperlab.hpo import scale_experiment

    scale_experiment.work(*inputs())


def main() -> None:
    problem, params, arrays, seed = inputs()
    from hyperlab.hpo import scale_experiment

    argv = [sys.executable, __file__, "--worker"]  # a local worker (HYPERLAB_LOCAL_WORKERS)
    result = scale_experiment.run(problem, params, arrays, seed, progress=progress, worker_argv=argv)
    write_outputs(result, OUT, "metrics/hpo_scale.json")
    log.info("wrote %d tables and report.json to %s, and metrics/hpo_scale.json", len(result.tables), OUT)


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        engine.run_worker(worker, (config.ConfigError, InputError))
    else:
        run_stage(main)
