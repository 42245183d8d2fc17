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
from pathlib import Path

from hyperlab import config
from hyperlab.cli import progress, run_stage
from hyperlab.io import write_tables
from hyperlab.report import write_results

log = logging.getLogger("hyperlab.stages.hypernet")

OUT = Path("plots/hypernet")
METRICS = Path("metrics/hypernet.json")


def headline(report: dict) -> dict:
    """How well each hypernetwork learned the best response: its seed-mean RMS error over ``h_range``."""
    return {"rms_range": {name: run["rms_range"] for name, run in report.items()
                          if isinstance(run, dict) and "rms_range" in run}}


def main() -> None:
    common = config.load_common()
    p = config.load_section("hypernet")

    # heavy imports (JAX) only after the params are known to be valid
    from hyperlab.bilevel import hypernet_experiment as experiment

    grid = experiment.probe_grid(p.h_range)
    keys = experiment.seed_keys(common.seed, p.n_seeds)
    metrics = experiment.header_metrics(p)
    tables = {}
    runs = [(v, k) for v in p.variants for k in p.kinds]
    for variant, kind in progress(runs, desc="hypernet"):
        name = f"{variant}_{kind}"
        m, frames = experiment.run_variant(p, variant, kind, keys, grid)
        metrics[name] = m
        log.info("%s: %s", name, {k: f"{v:.3g}" for k, v in m.items()})
        tables.update(frames)

    write_tables(OUT, tables)
    write_results(METRICS, OUT / "report.json", metrics, headline(metrics))
    log.info("wrote %s and %d plot-data files under %s", METRICS, len(tables), OUT)


if __name__ == "__main__":
    run_stage(main)
