"""Inference latency of single networks: the plain Flax model, timed per network.

Packing (:mod:`hyperlab.training.mlp`) would hide each network's own latency,
so every network is timed alone, with its own compiled forward pass.
Always on the CPU (:data:`TIMING_PLATFORM`), whatever JAX's default device: on a
GPU these small networks are launch-bound and take nearly the same time, which
would leave the latency-aware searches nothing to trade against error.
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

#: The platform every latency is timed on.
TIMING_PLATFORM = "cpu"


def seed_slice(weights: dict, seed_index: int) -> dict:
    """One seed's weights out of a pytree with a leading seed axis."""
    return jax.tree.map(lambda leaf: leaf[seed_index], weights)


@cache
def forward_fn(arch: Arch) -> Callable:
    """The jitted forward pass of one architecture (one compile per shape, shared by its seeds)."""
    return jax.jit(MLP(tuple(arch)).apply)


def on_timing_device(weights: Sequence[dict], x: jax.Array | np.ndarray) -> tuple[list[dict], jax.Array]:
    """Each network's variables and the batch, on the timing device.

    A jitted call runs where its committed inputs live, so this picks the device; placing them
    beforehand also keeps a host-to-device copy out of every timed call.
    """
    device = jax.devices(TIMING_PLATFORM)[0]
    # "params" is the collection name Flax's apply expects
    return [{"params": jax.device_put(w, device)} for w in weights], jax.device_put(jnp.asarray(x), device)


def time_latency(
    archs: Sequence[Arch],
    weights: Sequence[dict],
    x: jax.Array | np.ndarray,
    *,
    repeats: int,
    warmup: int,
    rng: np.random.Generator,
    progress: Progress = silent,
) -> np.ndarray:
    """Median wall time (ms) of one forward pass of the batch ``x``, for each (arch, weights).

    After ``warmup`` untimed calls per model, ``repeats`` rounds each time every
    model once, in a fresh random order per round: models are interleaved, so a
    slow spell of a shared machine spreads over all of them instead of biasing
    whichever region of the table it hit. Each call is synchronised
    (``block_until_ready``), so the time is the full forward pass.
    """
    fns = [forward_fn(tuple(a)) for a in archs]
    variables, x = on_timing_device(weights, x)
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
