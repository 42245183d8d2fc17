"""Hand-designed baselines with grid-tuned learning rates (paper Sec. 3: SGD, RMSprop, ADAM, NAG).

Each baseline's learning rate is picked from a log grid by the mean loss
(whole split) after ``n_steps`` steps over a few fresh inits -- the paper's
criterion ("learning rates tuned by final loss"). A rate with any non-finite
run is never picked. Every (baseline, rate, init) triple runs in one vmapped,
jitted program through :func:`evaluate.baseline_switch`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hyperlab.l2l.evaluate import BASELINES, OptimizeeRun, run_grid


def hparams(names, lrs) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(index, lr)`` arrays for :func:`evaluate.baseline_switch`, one entry per (name, lr) pair."""
    return (jnp.asarray([BASELINES.index(n) for n in names], dtype=jnp.int32), jnp.asarray(lrs, dtype=jnp.float32))


def tune_lrs(grid, keys, x, y, run: OptimizeeRun) -> dict[str, tuple[float, np.ndarray]]:
    """``{baseline: (best lr, mean final loss per grid point; inf where a run diverged)}`` after the
    ``run`` (its final loss only) from each of ``keys``."""
    grid = np.asarray(grid, dtype=np.float64)
    names = [n for n in BASELINES for _ in grid]
    traj = run_grid("baseline", hparams(names, np.tile(grid, len(BASELINES))), keys, x, y, run.final_only(), None)
    final = np.asarray(traj.loss[:, :, -1]).reshape(len(BASELINES), len(grid), -1)
    mean = np.where(np.isfinite(final).all(axis=2), final.mean(axis=2), np.inf)
    out = {}
    for i, name in enumerate(BASELINES):
        if not np.isfinite(mean[i]).any():
            raise FloatingPointError(f"{name}: every learning rate in the grid diverged")
        out[name] = (float(grid[int(np.argmin(mean[i]))]), mean[i])
    return out
