"""Independent re-timings of every network's inference, in rounds taken apart in time.

The ``candidates`` stage times each network right after training it; a verdict
that depends on latency should not hang on that one measurement (a quieter
machine moved the largest network from 5.1 to 3.2 ms). Latency does not depend
on the weights' values, so the networks here are freshly initialized and fed a
fixed random batch of the candidate timing batch's shape, timed with the
candidates' protocol (:func:`hyperlab.training.timing.time_latency`: networks interleaved
in a fresh random order per repeat).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperlab.report import Result
from hyperlab.selection.space import architectures
from hyperlab.training import network
from hyperlab.training.mlp import init_weights
from hyperlab.training.timing import time_latency

if TYPE_CHECKING:
    from hyperlab.config.sections.search import CandidatesParams, SearchParams

log = logging.getLogger(__name__)


def retime(
    candidates: CandidatesParams, search: SearchParams, seed: int, sleep: Callable[[float], None] = time.sleep
) -> pd.DataFrame:
    """``search.latency_rounds`` timings of every network of the ``candidates`` space with its timing protocol
    (``latency_batch``, ``latency_repeats``, ``latency_warmup``), ``search.latency_gap_seconds`` apart:
    columns arch, round, latency_ms.

    Round ``r`` (1-based) shuffles the networks with the stream ``(seed, r - 1)``.
    """
    batch, repeats, warmup = candidates.latency_batch, candidates.latency_repeats, candidates.latency_warmup
    rounds, gap_seconds = search.latency_rounds, search.latency_gap_seconds
    layers, widths = candidates.layers, candidates.widths
    archs = architectures.enumerate_space(layers, widths)
    weights = [init_weights(a, seed) for a in archs]
    x = np.random.default_rng(seed).standard_normal((batch, network.N_INPUTS)).astype(np.float32)
    frames = []
    for r in range(rounds):
        if r:
            log.info("pausing %.0f s before round %d", gap_seconds, r + 1)
            sleep(gap_seconds)
        t0 = time.perf_counter()
        ms = time_latency(archs, weights, x, repeats=repeats, warmup=warmup, rng=np.random.default_rng([seed, r]))
        log.info(
            "round %d: %d networks in %.1f s; latency %.3f-%.3f ms (median %.3f)",
            r + 1,
            len(archs),
            time.perf_counter() - t0,
            ms.min(),
            ms.max(),
            float(np.median(ms)),
        )
        frames.append(pd.DataFrame({"arch": [network.arch_name(a) for a in archs], "round": r + 1, "latency_ms": ms}))
    return pd.concat(frames, ignore_index=True)


def run(
    candidates: CandidatesParams, search: SearchParams, seed: int = 0, sleep: Callable[[float], None] = time.sleep
) -> Result:
    """The ``latency`` stage: :func:`retime` as the ``candidates`` and ``search`` sections ask; the re-timings
    are ``products["latency"]``."""
    return Result(tables={}, metrics={}, report={}, products={"latency": retime(candidates, search, seed, sleep)})
