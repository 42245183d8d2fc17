"""Stage ``hypernet``: hypernetwork best responses w_phi(h) on the toy bilevel problem.

Runs every ``hypernet.variants`` x ``hypernet.kinds`` combination (global / local,
linear / MLP; Lorraine & Duvenaud 2018) on L_train = |h + w|^2, L_val = |w|^2 in
one dimension, ``hypernet.n_seeds`` seeds each (vmapped), and writes

* ``plots/hypernet/curves/<variant>_<kind>.csv``: h, w_phi(h), w*(h) = -h and
  whether h lies in the sampled region (seed 0),
* ``plots/hypernet/paths/<variant>_<kind>.csv``: the h_hat path with w_phi(h_hat)
  and L_val(w_phi(h_hat)) (seed 0),
* ``plots/hypernet/phi_loss/<variant>_<kind>.csv``: the sampled L_train per phi step (seed 0),
* ``plots/hypernet/snapshots_local_<kind>.csv``: the local curve at a few steps,
* ``metrics/hypernet.json``: per run, seed-averaged best-response RMS error
  over the range and near the final h_hat, final h_hat and L_val.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hyperlab import config
from hyperlab.cli import progress, run_stage
from hyperlab.io import write_csv, write_json

log = logging.getLogger("hyperlab.stages.hypernet")

OUT = Path("plots/hypernet")
METRICS = Path("metrics/hypernet.json")
DIM = 1            # the surfaces and curves are drawn in (h, w) with scalar h and w
TOL = 1e-2         # |h_hat| below which the outer problem counts as solved
GRID_N = 201
N_SNAPSHOTS = 6


def _settings(p, variant: str, hypernet):
    low, high = p.h_range
    if variant == "global":
        return hypernet.GlobalSettings(low, high, p.h0, p.batch, p.global_phi_steps, p.phi_lr,
                                       p.global_h_steps, p.h_lr)
    return hypernet.LocalSettings(p.h0, p.sigma, p.batch, p.local_steps, p.phi_lr, p.h_lr)


def _steps_to_tol(h_path: np.ndarray) -> float:
    """First outer step from which |h_hat| stays below TOL (NaN if never)."""
    above = np.flatnonzero(np.abs(h_path) >= TOL)
    if len(above) == 0:
        return 0.0
    return float(above[-1] + 1) if above[-1] + 1 < len(h_path) else float("nan")


def _snapshot_steps(steps: int) -> list[int]:
    """Roughly log-spaced steps 0 .. steps, so the early moves of the curve show too."""
    raw = np.unique(np.round(np.geomspace(1, steps + 1, N_SNAPSHOTS)).astype(int) - 1)
    return sorted({0, steps, *raw.tolist()})


def main() -> None:
    common = config.load_common()
    p = config.load_section("hypernet")

    import jax  # heavy imports only after the params are known to be valid
    import jax.numpy as jnp
    import pandas as pd

    from hyperlab.bilevel import hypernet

    low, high = p.h_range
    pad = 0.25 * (high - low)
    grid = np.linspace(low - pad, high + pad, GRID_N)
    probe = jnp.asarray(grid[:, None])
    keys = jax.random.split(jax.random.key(common.seed), p.n_seeds)

    metrics: dict = {"n_seeds": p.n_seeds, "h_range": list(p.h_range), "h0": p.h0, "tol": TOL}
    written: set[Path] = set()
    runs = [(v, k) for v in p.variants for k in p.kinds]
    for variant, kind in progress(runs, desc="hypernet"):
        name = f"{variant}_{kind}"
        net = hypernet.make_hypernet(kind, DIM, p.hidden)
        run = hypernet.run_seeds(variant, net, keys, _settings(p, variant, hypernet), DIM, probe)
        run = jax.tree_util.tree_map(np.asarray, run)
        h_final = run.h_path[:, -1, 0]

        rms = jax.vmap(lambda phi: hypernet.rms_error(net, phi, low, high, DIM))(run.phi)
        rms_near = jax.vmap(lambda phi, h: hypernet.rms_error(
            net, phi, h - 2 * p.sigma, h + 2 * p.sigma, DIM))(run.phi, jnp.asarray(h_final))
        steps_to_tol = [_steps_to_tol(path[:, 0]) for path in run.h_path]
        m = {
            "rms_range": float(np.mean(rms)),
            "rms_range_max": float(np.max(rms)),
            "rms_near_h": float(np.mean(rms_near)),
            "final_h": float(np.mean(h_final)),
            "final_abs_h_max": float(np.max(np.abs(h_final))),
            # L_val as the hypernetwork sees it, and the true outer loss L_val(w*(h_hat)) = h_hat^2.
            "l_val": float(np.mean(np.sum(run.w_path[:, -1] ** 2, axis=-1))),
            "l_val_true": float(np.mean(h_final ** 2)),
            "steps_to_tol": float(np.mean(steps_to_tol)),
            "final_phi_loss": float(np.mean(run.phi_loss[:, -1])),
        }
        if kind == "linear":
            affine = run.phi["params"]["affine"]
            m["A"] = float(np.mean(affine["kernel"]))
            m["b"] = float(np.mean(affine["bias"]))
        metrics[name] = m
        log.info("%s: %s", name, {k: f"{v:.3g}" for k, v in m.items()})

        # Plot data: seed 0 (curves, paths) -- the metrics above average over seeds.
        w_curve = np.asarray(hypernet.response_curve(net, jax.tree_util.tree_map(lambda a: a[0], run.phi),
                                                     probe))[:, 0]
        if variant == "global":
            sampled = (grid >= low) & (grid <= high)
        else:
            sampled = np.abs(grid - h_final[0]) <= 2 * p.sigma
        frames = {
            OUT / "curves" / f"{name}.csv": pd.DataFrame(
                {"h": grid, "w_phi": w_curve, "w_star": -grid, "sampled": sampled.astype(int)}),
            OUT / "paths" / f"{name}.csv": pd.DataFrame(
                {"step": np.arange(run.h_path.shape[1]), "h_hat": run.h_path[0, :, 0],
                 "w_phi_h_hat": run.w_path[0, :, 0], "l_val": run.w_path[0, :, 0] ** 2}),
            OUT / "phi_loss" / f"{name}.csv": pd.DataFrame(
                {"step": np.arange(run.phi_loss.shape[1]), "l_train": run.phi_loss[0]}),
        }
        if variant == "local":
            snaps = _snapshot_steps(p.local_steps)
            frames[OUT / f"snapshots_{name}.csv"] = pd.DataFrame({
                "step": np.repeat(snaps, GRID_N), "h": np.tile(grid, len(snaps)),
                "w_phi": run.probe_path[0, snaps, :, 0].ravel(),
                "h_hat": np.repeat(run.h_path[0, snaps, 0], GRID_N)})
        for path, frame in frames.items():
            write_csv(path, frame)
            written.add(path)

    # A run dropped from params must not leave its old plot data behind.
    for stale in set(OUT.rglob("*.csv")) - written:
        stale.unlink()
    write_json(METRICS, metrics)
    log.info("wrote %s and %d plot-data files under %s", METRICS, len(written), OUT)


if __name__ == "__main__":
    run_stage(main)
