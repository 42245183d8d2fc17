"""The ``hypernet`` experiment: hypernetwork best responses w_phi(h) on the toy problem.

Runs every ``variant`` x ``kind`` combination of :mod:`hyperlab.bilevel.hypernet`
(global / local, linear / MLP; Lorraine & Duvenaud 2018) on L_train = |h + w|^2,
L_val = |w|^2 in one dimension, each vmapped over seeds, and returns their
seed-averaged metrics and their plot data as plain pandas tables
(:class:`hyperlab.report.Result`); the stage writes them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.bilevel import hypernet
from hyperlab.bilevel.experiments.convergence import steps_to_tol
from hyperlab.progress import Progress, silent
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only: the section model, never imported at run time
    from hyperlab.config import HypernetParams

log = logging.getLogger("hyperlab.hypernet")

DIM = 1  # the surfaces and curves are drawn in (h, w) with scalar h and w
TOL = 1e-2  # |h_hat| below which the outer problem counts as solved
GRID_N = 201
N_SNAPSHOTS = 6


def settings(p: HypernetParams, variant: str):
    """The :mod:`~hyperlab.bilevel.hypernet` settings of ``variant`` from the ``hypernet`` params ``p``."""
    low, high = p.h_range
    if variant == "global":
        return hypernet.GlobalSettings(low, high, p.h0, p.batch, p.global_phi_steps, p.phi_lr, p.global_h_steps, p.h_lr)
    return hypernet.LocalSettings(p.h0, p.sigma, p.batch, p.local_steps, p.phi_lr, p.h_lr)


def snapshot_steps(steps: int) -> list[int]:
    """Roughly log-spaced steps 0 .. steps, so the early moves of the curve show too."""
    raw = np.unique(np.round(np.geomspace(1, steps + 1, N_SNAPSHOTS)).astype(int) - 1)
    return sorted({0, steps, *raw.tolist()})


def probe_grid(h_range) -> np.ndarray:
    """GRID_N points over ``h_range`` padded by a quarter of its width on each side."""
    low, high = h_range
    pad = 0.25 * (high - low)
    return np.linspace(low - pad, high + pad, GRID_N)


def seed_keys(seed: int, n_seeds: int) -> jax.Array:
    """One PRNG key per seed, split from the common ``seed``."""
    return jax.random.split(jax.random.key(seed), n_seeds)


def header_metrics(p: HypernetParams) -> dict:
    """The run-independent entries that open ``metrics/hypernet.json``."""
    return {"n_seeds": p.n_seeds, "h_range": list(p.h_range), "h0": p.h0, "tol": TOL}


def run_variant(
    p: HypernetParams, variant: str, kind: str, keys: jax.Array, grid: np.ndarray
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Run ``variant`` x ``kind`` over ``keys`` (one per seed) and summarize it.

    Returns the seed-averaged metrics and the plot-data tables, keyed by their path
    relative to the plot folder (``curves/<name>.csv``, ``paths/<name>.csv``,
    ``phi_loss/<name>.csv`` and, for the local variant, ``snapshots_<name>.csv``,
    with ``name = f"{variant}_{kind}"``). The tables show seed 0; the metrics
    average over the seeds.
    """
    name = f"{variant}_{kind}"
    low, high = p.h_range
    probe = jnp.asarray(grid[:, None])
    net = hypernet.make_hypernet(kind, DIM, p.hidden)
    run = hypernet.run_seeds(variant, net, keys, settings(p, variant), DIM, probe)
    run = jax.tree_util.tree_map(np.asarray, run)
    h_final = run.h_path[:, -1, 0]

    rms = jax.vmap(lambda phi: hypernet.rms_error(net, phi, low, high, DIM))(run.phi)
    rms_near = jax.vmap(lambda phi, h: hypernet.rms_error(net, phi, h - 2 * p.sigma, h + 2 * p.sigma, DIM))(
        run.phi, jnp.asarray(h_final)
    )
    # a seed that never stays within TOL makes the mean NaN (null in report.json)
    to_tol = [steps_to_tol(np.abs(path[:, 0]), TOL) for path in run.h_path]
    m = {
        "rms_range": float(np.mean(rms)),
        "rms_range_max": float(np.max(rms)),
        "rms_near_h": float(np.mean(rms_near)),
        "final_h": float(np.mean(h_final)),
        "final_abs_h_max": float(np.max(np.abs(h_final))),
        # L_val as the hypernetwork sees it, and the true outer loss L_val(w*(h_hat)) = h_hat^2.
        "l_val": float(np.mean(np.sum(run.w_path[:, -1] ** 2, axis=-1))),
        "l_val_true": float(np.mean(h_final**2)),
        "steps_to_tol": float(np.mean([np.nan if s is None else s for s in to_tol])),
        "final_phi_loss": float(np.mean(run.phi_loss[:, -1])),
    }
    if kind == "linear":
        affine = run.phi["params"]["affine"]
        m["A"] = float(np.mean(affine["kernel"]))
        m["b"] = float(np.mean(affine["bias"]))

    # Plot data: seed 0 (curves, paths) -- the metrics above average over seeds.
    w_curve = np.asarray(hypernet.response_curve(net, jax.tree_util.tree_map(lambda a: a[0], run.phi), probe))[:, 0]
    if variant == "global":
        sampled = (grid >= low) & (grid <= high)
    else:
        sampled = np.abs(grid - h_final[0]) <= 2 * p.sigma
    frames = {
        f"curves/{name}.csv": pd.DataFrame(
            {"h": grid, "w_phi": w_curve, "w_star": -grid, "sampled": sampled.astype(int)}
        ),
        f"paths/{name}.csv": pd.DataFrame(
            {
                "step": np.arange(run.h_path.shape[1]),
                "h_hat": run.h_path[0, :, 0],
                "w_phi_h_hat": run.w_path[0, :, 0],
                "l_val": run.w_path[0, :, 0] ** 2,
            }
        ),
        f"phi_loss/{name}.csv": pd.DataFrame({"step": np.arange(run.phi_loss.shape[1]), "l_train": run.phi_loss[0]}),
    }
    if variant == "local":
        snaps = snapshot_steps(p.local_steps)
        frames[f"snapshots_{name}.csv"] = pd.DataFrame(
            {
                "step": np.repeat(snaps, GRID_N),
                "h": np.tile(grid, len(snaps)),
                "w_phi": run.probe_path[0, snaps, :, 0].ravel(),
                "h_hat": np.repeat(run.h_path[0, snaps, 0], GRID_N),
            }
        )
    return m, frames


def headline(report: dict) -> dict:
    """How well each hypernetwork learned the best response: its seed-mean RMS error over ``h_range``."""
    return {
        "rms_range": {
            name: run["rms_range"] for name, run in report.items() if isinstance(run, dict) and "rms_range" in run
        }
    }


def run(p: HypernetParams, seed: int, progress: Progress = silent) -> Result:
    """Every ``p.variants`` x ``p.kinds`` run (:func:`run_variant`), seeds split from ``seed``.

    The report opens with :func:`header_metrics`, then one entry per run
    ``<variant>_<kind>``; the tables are every run's plot data.
    """
    grid = probe_grid(p.h_range)
    keys = seed_keys(seed, p.n_seeds)
    report = header_metrics(p)
    tables = {}
    for variant, kind in progress([(v, k) for v in p.variants for k in p.kinds], desc="hypernet"):
        name = f"{variant}_{kind}"
        report[name], frames = run_variant(p, variant, kind, keys, grid)
        log.info("%s: %s", name, {k: f"{v:.3g}" for k, v in report[name].items()})
        tables.update(frames)
    return Result(tables, headline(report), report)
