"""Inference latency of single networks: the plain Flax model, timed per network.

Packing (:mod:`hyperlab.training.mlp`) would hide each network's own latency,
so every network is timed alone, with its own compiled forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.progress import Progress, silent
from hyperlab.training.mlp import MLP
from hyperlab.training.network import Arch


def seed_slice(params: dict, seed_index: int) -> dict:
    """One seed's parameters out of a pytree with a leading seed axis."""
    return jax.tree.map(lambda leaf: leaf[seed_index], params)


@cache
def forward_fn(arch: Arch) -> Callable:
    """The jitted forward pass of one architecture (one compile per shape, shared by its seeds)."""
    return jax.jit(MLP(tuple(arch)).apply)


def time_latency(
    archs: Sequence[Arch],
    params: Sequence[dict],
    x: jax.Array | np.ndarray,
    *,
    repeats: int,
    warmup: int,
    rng: np.random.Generator,
    progress: Progress = silent,
) -> np.ndarray:
    """Median wall time (ms) of one forward pass of the batch ``x``, for each (arch, params).

    After ``warmup`` untimed calls per model, ``repeats`` rounds each time every
    model once, in a fresh random order per round: models are interleaved, so a
    slow spell of a shared machine spreads over all of them instead of biasing
    whichever region of the table it hit. Each call is synchronised
    (``block_until_ready``), so the time is the full forward pass.
    """
    fns = [forward_fn(tuple(a)) for a in archs]
    # on the device beforehand, or every timed call would include a host-to-device copy
    variables = [{"params": jax.tree.map(jnp.asarray, p)} for p in params]
    x = jnp.asarray(x)
    pairs = list(zip(fns, variables))
    for fn, v in progress(pairs, desc="latency warm-up"):
        for _ in range(warmup):
            fn(v, x).block_until_ready()
    times = np.empty((repeats, len(fns)))
    for r in progress(range(repeats), desc="latency rounds"):
        for j in rng.permutation(len(fns)):
            t0 = time.perf_counter()
            fns[j](variables[j], x).block_until_ready()
            times[r, j] = time.perf_counter() - t0
    return np.median(times, axis=0) * 1e3
