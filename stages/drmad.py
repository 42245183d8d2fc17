"""Stage ``drmad``: DrMAD and K-piece trajectory linearization on the toy bilevel problem.

Writes ``plots/drmad/*.csv`` (hypergradient errors per K, inner paths, one outer run per
method, L_val(w_T) over (h, log lr), the measured memory per method), the full results
``plots/drmad/report.json`` and the headline numbers ``metrics/drmad.json``. Computes in
float64: the point is to show which errors come from the linearization, so rounding must
stay far below them.
"""

from __future__ import annotations

import logging

from hyperlab import config
from hyperlab.cli import progress, run_stage
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.drmad")


def main() -> None:
    config.load_common()
    params = config.load_section("drmad")

    import jax  # heavy imports only after the params are known to be good

    jax.config.update("jax_enable_x64", True)
    from hyperlab.bilevel.experiments import drmad_experiment

    result = drmad_experiment.run(params, progress=progress)
    write_outputs(result, "plots/drmad", "metrics/drmad.json")
    log.info("wrote %d tables and report.json to plots/drmad, and metrics/drmad.json", len(result.tables))


if __name__ == "__main__":
    run_stage(main)
