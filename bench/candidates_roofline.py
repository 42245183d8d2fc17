"""The default candidate table's wall time against its compute lower bound.

Lower bound = total training FLOPs of the table (every network, seed, epoch and
minibatch: forward, weight gradients, input gradients of all layers but the
first; :func:`hyperlab.training.network.train_flops`) divided by this machine's
measured matmul throughput (the best median of a few large float32 GEMMs, so
the bound is as low as it can honestly be). The stage runs as a subprocess on
the repository's ``params.yaml`` in a scratch folder (the repository's outputs
are not touched); the throughput is measured just before and just after it, in
the same run, and the larger is used. Evaluation passes, compilation and
latency timing are not in the bound: the ratios say what they cost.

    python bench/candidates_roofline.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab import config, data
from hyperlab.selection.space import architectures
from hyperlab.training import network

REPO = Path(__file__).resolve().parents[1]
SHAPES = [(1024, 1024, 1024), (100, 784, 8192), (1000, 784, 2048), (100, 512, 512)]


def emit(**row) -> None:
    print(json.dumps({"bench": "candidates_roofline", **row}), flush=True)


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.5) -> float:
    """Median throughput (GFLOP/s) of repeated ``(m, k) @ (k, n)`` float32 products."""
    a = jnp.asarray(np.random.default_rng(0).random((m, k), np.float32))
    b = jnp.asarray(np.random.default_rng(1).random((k, n), np.float32))
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    t0 = time.perf_counter()
    f(a, b).block_until_ready()
    reps = max(1, int(0.1 / max(time.perf_counter() - t0, 1e-6)))
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        for _ in range(reps):
            out = f(a, b)
        out.block_until_ready()
        times.append((time.perf_counter() - t0) / reps)
    return 2 * m * k * n / float(np.median(times)) / 1e9


def peak(when: str) -> float:
    rates = {f"{m}x{k}x{n}": matmul_gflops(m, k, n) for m, k, n in SHAPES}
    emit(
        metric=f"matmul_gflops_{when}",
        value=round(max(rates.values()), 1),
        shapes={k: round(v, 1) for k, v in rates.items()},
        loadavg=os.getloadavg(),
    )
    return max(rates.values())


def main() -> None:
    params = config.load_section("candidates", REPO / "params.yaml")
    n_train = len(data.load_npz(REPO / "data" / "mnist.npz")["y_train"])
    archs = architectures.enumerate_space(params.layers, params.widths)
    examples = (n_train // params.batch_size) * params.batch_size * params.epochs * params.n_seeds
    train_flops = sum(network.train_flops(a) for a in archs) * examples
    emit(
        metric="train_tflops",
        value=round(train_flops / 1e12, 3),
        networks=len(archs),
        seeds=params.n_seeds,
        epochs=params.epochs,
    )

    before = peak("before")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        shutil.copy(REPO / "data" / "mnist.npz", work / "data" / "mnist.npz")
        shutil.copy(REPO / "params.yaml", work / "params.yaml")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(REPO / "stages" / "candidates.py")],
            cwd=work,
            check=True,
            env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
        )
        wall = time.perf_counter() - t0
        metrics = json.loads((work / "metrics" / "candidates.json").read_text())
    after = peak("after")

    rate = max(before, after) * 1e9
    bound = train_flops / rate
    emit(metric="lower_bound_s", value=round(bound, 1), gflops_used=round(rate / 1e9, 1))
    emit(
        metric="stage_wall_s",
        value=round(wall, 1),
        train_run_s=metrics["train_seconds"],
        compile_s=metrics["compile_seconds"],
        latency_s=metrics["latency_seconds"],
        loadavg=os.getloadavg(),
    )
    emit(metric="ratio_wall_to_bound", value=round(wall / bound, 2))
    emit(
        metric="ratio_train_run_to_bound",
        value=round(metrics["train_seconds"] / bound, 2),
        note="training run incl. the evaluation passes, without compilation and latency timing",
    )
    emit(
        metric="ratio_train_compile_run_to_bound",
        value=round((metrics["train_seconds"] + metrics["compile_seconds"]) / bound, 2),
    )
    emit(metric="achieved_train_gflops", value=round(train_flops / metrics["train_seconds"] / 1e9, 1))


if __name__ == "__main__":
    main()
