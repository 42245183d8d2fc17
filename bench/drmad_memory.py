"""Memory and time of DrMAD (K = 1) and K = 8 pieces against exact reverse mode.

Toy L_train = |h + w|², L_val = |w|² with d = 10^4 parameters (float32), T = 10^2..10^4
inner steps of SGD with momentum. For each (T, method) the whole hypergradient (forward
pass + reverse pass) is jitted once; memory is XLA's compiled ``memory_analysis()``
(temporary buffers, i.e. what the program allocates beyond its inputs and outputs),
time is the median of repeated calls after a warm-up. Prints one JSON line per figure,
then the ratios exact / method measured side by side in the same run.

    python bench/drmad_memory.py [--d 10000] [--T 100 1000 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from hyperlab.bilevel import drmad as dm
from hyperlab.bilevel.toy import train_loss, val_loss

METHODS = {"exact": None, "drmad": 1, "K8": 8}


def emit(**row) -> None:
    print(json.dumps({"bench": "drmad_memory", **row}), flush=True)


def measure(d: int, T: int, K: int | None, repeats: int) -> dict:
    w0 = jnp.linspace(-1.0, 1.0, d, dtype=jnp.float32)
    hyper = dm.Hyper(jnp.full((d,), 0.5, jnp.float32), jnp.log(jnp.float32(0.2)), jnp.float32(0.9))
    fn = jax.jit(dm.hypergrad_fn(train_loss, val_loss, T, K))
    t0 = time.perf_counter()
    compiled = fn.lower(w0, hyper).compile()
    compile_s = time.perf_counter() - t0
    stats = compiled.memory_analysis()
    jax.block_until_ready(compiled(w0, hyper))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(w0, hyper))
        times.append(time.perf_counter() - t0)
    temp = int(stats.temp_size_in_bytes) if stats is not None else None
    return {
        "temp_bytes": temp,
        "time_s": statistics.median(times),
        "compile_s": compile_s,
        "stored_vectors": dm.stored_vectors(T, K),
        "vector_bytes": 4 * d,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--T", type=int, nargs="+", default=[100, 1000, 10_000])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = jax.devices()[0]
    for T in args.T:
        results = {}
        for name, K in METHODS.items():
            r = results[name] = measure(args.d, T, K, args.repeats)
            common = dict(method=name, T=T, d=args.d, device=device.platform)
            emit(
                metric="temp_bytes",
                value=r["temp_bytes"],
                unit="bytes",
                vectors_equivalent=None if r["temp_bytes"] is None else round(r["temp_bytes"] / r["vector_bytes"], 1),
                **common,
            )
            emit(metric="stored_trajectory_vectors", value=r["stored_vectors"], **common)
            emit(
                metric="time_s",
                value=round(r["time_s"], 5),
                unit="s (median)",
                repeats=args.repeats,
                compile_s=round(r["compile_s"], 2),
                **common,
            )
        for name in ("drmad", "K8"):
            a, b = results["exact"], results[name]
            if a["temp_bytes"] and b["temp_bytes"]:
                emit(
                    metric="memory_ratio_exact_over_method",
                    method=name,
                    T=T,
                    d=args.d,
                    value=round(a["temp_bytes"] / b["temp_bytes"], 2),
                )
            emit(
                metric="time_ratio_exact_over_method",
                method=name,
                T=T,
                d=args.d,
                value=round(a["time_s"] / b["time_s"], 3),
            )


if __name__ == "__main__":
    main()
