"""Stage ``hpo``: hypergradient methods and Bayesian optimization on the same real hyperparameters (MNIST).

h = per-layer log L2 coefficients (and the log learning rate) of an MLP trained T
full-batch gradient steps from a fixed initialization; objective = validation
cross-entropy after those T steps. Writes ``plots/hpo/*.csv`` (traces, runs, summary,
hypergradient accuracy), the full results ``plots/hpo/report.json`` and the headline
numbers ``metrics/hpo.json`` (taken at the inner-step budget: deterministic; the
wall-clock columns of the tables depend on the machine).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import progress, run_stage
from hyperlab.data import load_npz
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.hpo")
OUT = Path("plots/hpo")


def main() -> None:
    common = config.load_common()
    params = config.load_section("hpo")
    arrays = load_npz("data/mnist.npz", config.split_sizes())

    from hyperlab.hpo import experiment  # heavy imports (JAX) only after the params are known to be good

    result = experiment.run(params, arrays, common.seed, progress=progress)
    write_outputs(result, OUT, "metrics/hpo.json")
    log.info("wrote %d tables and report.json to %s, and metrics/hpo.json", len(result.tables), OUT)


if __name__ == "__main__":
    run_stage(main)
