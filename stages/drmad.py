"""Stage ``drmad``: DrMAD and K-piece trajectory linearization on the toy bilevel problem.

Writes ``plots/drmad/*.csv`` (hypergradient errors per K, inner paths, one outer run per
method), the full results ``plots/drmad/report.json`` and the headline numbers
``metrics/drmad.json``. Computes in float64: the point is to show which
errors come from the linearization, so rounding must stay far below them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.io import write_tables
from hyperlab.report import write_results

log = logging.getLogger("hyperlab.stages.drmad")
OUT = Path("plots/drmad")


def headline(report: dict) -> dict:
    """DrMAD (K = 1) against exact reverse mode: the learning-rate hypergradient error and where the outer run ends."""
    drmad = report["K"]["1"]
    return {"drmad_rel_err_log_lr": drmad["rel_err"]["log_lr"], "drmad_final_lr": drmad["final_lr"],
            "exact_final_lr": report["exact"]["final_lr"], "drmad_final_L_val": drmad["final_L_val"]}


def main() -> None:
    config.load_common()
    params = config.load_section("drmad")

    import jax  # heavy imports only after the params are known to be good
    jax.config.update("jax_enable_x64", True)
    from hyperlab.bilevel import drmad_experiment

    tables, metrics = drmad_experiment.run(params)
    write_tables(OUT, {f"{name}.csv": frame for name, frame in tables.items()})
    write_results("metrics/drmad.json", OUT / "report.json", metrics, headline(metrics))
    log.info("wrote %d tables and report.json to %s, and metrics/drmad.json", len(tables), OUT)


if __name__ == "__main__":
    run_stage(main)
