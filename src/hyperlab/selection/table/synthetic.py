"""A synthetic candidate table, for tests and benches that must not train the space.

Same schema as ``data/candidates.csv`` (written by the same
:func:`~hyperlab.selection.table.candidate_table.candidate_table`, parameter counts and
FLOPs from :mod:`hyperlab.training.network`), with a plausible shape instead of
trained errors and measured timings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hyperlab.selection.space import architectures
from hyperlab.selection.table.candidate_table import candidate_table
from hyperlab.training import network


def synthetic_table(
    layers: Sequence[int] = (1, 2, 3),
    widths: Sequence[int] = (16, 32, 64, 128, 256, 512),
    n_seeds: int = 2,
    seed: int = 0,
    fail_rate: float = 0.02,
) -> pd.DataFrame:
    """A table with the schema of ``data/candidates.csv`` and a plausible shape.

    Error falls with capacity and rises with depth beyond two layers (a unique
    optimum), with seed noise; latency grows with FLOPs and depth, so error and
    latency conflict and the Pareto front has several points. A run fails with
    probability ``fail_rate`` (NaN errors, as a diverged training run).
    """
    rng = np.random.default_rng(seed)
    archs = architectures.enumerate_space(layers, widths)
    shape = (len(archs), n_seeds)
    errors, failed = np.full((*shape, 3), np.nan), np.zeros(shape, bool)
    latency, train_seconds = np.zeros(shape), np.zeros(shape)
    for i, arch in enumerate(archs):
        n, n_params, flops = len(arch), network.n_params(arch), network.forward_flops(arch)
        base = 0.04 + 0.6 / (1 + n_params / 6e3) + 0.012 * (n - 2) ** 2 + 0.02 * (min(arch) < 32)
        for j in range(n_seeds):  # draws in this order: fail, val noise, latency noise, test noise (if ok)
            failed[i, j] = rng.random() < fail_rate
            val = base + 0.006 * rng.standard_normal()
            lat = (0.02 + 2.5e-7 * flops + 0.01 * n) * (1 + 0.05 * rng.standard_normal())
            if not failed[i, j]:
                errors[i, j] = (max(val - 0.03, 0.0), val, val + 0.004 * rng.standard_normal())
            latency[i, j], train_seconds[i, j] = abs(lat), 0.5 + 2e-5 * n_params
    return candidate_table(
        archs, range(n_seeds), max(layers), errors, failed, train_seconds, latency, np.full(shape, np.nan)
    )
