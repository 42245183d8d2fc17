"""Stage ``hypernet``: hypernetwork best responses w_phi(h) on the toy bilevel problem.

Runs every ``hypernet.variants`` x ``hypernet.kinds`` combination (global / local,
linear / MLP; Lorraine & Duvenaud 2018) on L_train = |h + w|^2, L_val = |w|^2 in
one dimension, ``hypernet.n_seeds`` seeds each (vmapped), and writes

* ``plots/hypernet/curves/<variant>_<kind>.csv``: h, w_phi(h), w*(h) = -h and
  whether h lies in the sampled region (seed 0),
* ``plots/hypernet/paths/<variant>_<kind>.csv``: the h_hat path with w_phi(h_hat)
  and L_val(w_phi(h_hat)) (seed 0),
* ``plots/hypernet/phi_loss/<variant>_<kind>.csv``: the sampled L_train per phi step (seed 0),
* ``plots/hypernet/snapshots_local_<kind>.csv``: the local curve at a few steps,
* ``plots/hypernet/report.json``: per run, seed-averaged best-response RMS error
  over the range and near the final h_hat, final h_hat and L_val,
* ``metrics/hypernet.json``: the headline, each run's RMS error over the range.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.hypernet")


def main() -> None:
    common = config.load_common()
    params = config.load_section("hypernet")

    # heavy imports (JAX) only after the params are known to be valid
    from hyperlab.bilevel.experiments import hypernet_experiment

    result = hypernet_experiment.run(params, common.seed, progress=progress)
    write_outputs(result, "plots/hypernet", "metrics/hypernet.json")
    log.info("wrote metrics/hypernet.json and %d plot-data files under plots/hypernet", len(result.tables))


if __name__ == "__main__":
    run_stage(main)
