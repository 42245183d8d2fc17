"""Stage ``latency``: time every network's inference again, in rounds taken apart in time.

The ``candidates`` stage times each network right after training it; this
stage, cached on its own and independent of training, times every network in
``search.latency_rounds`` rounds with the candidates' protocol
(``candidates.latency_batch / latency_repeats / latency_warmup``), pausing
``search.latency_gap_seconds`` between rounds (:func:`hyperlab.selection.table.retiming.run`).
``compare`` re-reads every latency-dependent verdict with each round. Writes
``data/latency.csv`` (arch, round, latency_ms; committed).
"""

from __future__ import annotations

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.io import write_csv


def main() -> None:
    common = config.load_common()
    cand = config.load_section("candidates")
    params = config.load_section("search")

    from hyperlab.selection.table import retiming  # JAX: only once the params are known to be good

    result = retiming.run(cand, params, common.seed)
    write_csv("data/latency.csv", result.products["latency"])


if __name__ == "__main__":
    run_stage(main)
