"""Stage ``latency``: time every network's inference again, in rounds taken apart in time.

The ``candidates`` stage times each network right after training it; a
verdict that depends on latency should not hang on that one measurement (a
quieter machine moved the largest network from 5.1 to 3.2 ms). This stage,
cached on its own and independent of training (latency does not depend on the
weights' values: freshly initialized weights, a fixed random batch of the
candidate timing batch's shape), times every network in
``search.latency_rounds`` rounds with the candidates' protocol
(``candidates.latency_batch / latency_repeats / latency_warmup``; networks
interleaved in a fresh random order), pausing ``search.latency_gap_seconds``
between rounds. ``compare`` re-reads every latency-dependent verdict with each
round. Writes ``data/latency.csv`` (arch, round, latency_ms; committed).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from hyperlab import config
from hyperlab.cli import run_stage
from hyperlab.io import write_csv
from hyperlab.selection import space

log = logging.getLogger("hyperlab.stages.latency")


def main() -> None:
    common = config.load_common()
    cand = config.load_section("candidates")
    params = config.load_section("search")

    from hyperlab.training.latency import time_latency
    from hyperlab.training.mlp import init_params

    archs = space.enumerate_space(cand.layers, cand.widths)
    weights = [init_params(a, common.seed) for a in archs]
    x = np.random.default_rng(common.seed).standard_normal((cand.latency_batch, space.N_INPUTS)).astype(np.float32)
    frames = []
    for r in range(params.latency_rounds):
        if r:
            log.info("pausing %.0f s before round %d", params.latency_gap_seconds, r + 1)
            time.sleep(params.latency_gap_seconds)
        t0 = time.perf_counter()
        ms = time_latency(archs, weights, x, repeats=cand.latency_repeats, warmup=cand.latency_warmup,
                               rng=np.random.default_rng([common.seed, r]))
        log.info("round %d: %d networks in %.1f s; latency %.3f-%.3f ms (median %.3f)", r + 1, len(archs),
                 time.perf_counter() - t0, ms.min(), ms.max(), float(np.median(ms)))
        frames.append(pd.DataFrame({"arch": [space.arch_name(a) for a in archs], "round": r + 1, "latency_ms": ms}))
    write_csv("data/latency.csv", pd.concat(frames, ignore_index=True))


if __name__ == "__main__":
    run_stage(main)
