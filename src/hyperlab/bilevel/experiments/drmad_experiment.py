"""The ``drmad`` experiment on the toy problem: hypergradient errors per K, and outer runs.

Uses :mod:`hyperlab.bilevel.drmad` on L_train = |h + w|², L_val = |w|² (d = 1, so the
paths can be drawn on the two loss surfaces) and on a non-quadratic variant
L_train = |h + w|² + c Σ (h + w)⁴ (:func:`~hyperlab.bilevel.drmad.quartic_train_loss`).
Returns plain pandas tables, the report and its headline (:class:`hyperlab.report.Result`);
the stage writes them. Computes in whatever precision JAX is set to: the stage enables float64.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from hyperlab.bilevel import drmad as dm
from hyperlab.bilevel import reverse
from hyperlab.bilevel.toy import train_loss, val_loss
from hyperlab.progress import Progress, silent
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only: the section model, never imported at run time
    from hyperlab.config import DrmadParams

log = logging.getLogger("hyperlab.drmad")

EXACT = "exact"  # method name of exact reverse mode (jax.grad through the scan)
VAL_GRID = 61  # points per axis of the L_val(w_T) grid over (h, log α)
MEMORY_DD = 1024  # extra parameters between the two compilations whose temporaries are compared


def method_name(K: int | None) -> str:
    return EXACT if K is None else f"K{K}"


def pieces_to_run(pieces, T: int) -> list[int]:
    """The configured K plus K = 1 (DrMAD) and K = T (exact trajectory), sorted."""
    return sorted(set(pieces) | {1, T})


def _hyper0(params: DrmadParams) -> dm.Hyper:
    return dm.Hyper(jnp.array([params.h0]), jnp.log(jnp.asarray(params.lr)), jnp.asarray(params.momentum))


def _optimizer(params: DrmadParams) -> optax.GradientTransformation:
    return optax.adam(params.outer_lr) if params.outer_optimizer == "adam" else optax.sgd(params.outer_lr)


def error_table(loss, params: DrmadParams, Ks: list[int]) -> tuple[pd.DataFrame, dict]:
    """Relative error of each hypergradient component per K at the initial hyperparameters.

    Also returns Alg. 2's literal velocity recurrence for K = 1 and K = T (in a dict).
    """
    w0, hyper = jnp.array([params.w0]), _hyper0(params)
    _, _, exact = jax.jit(dm.hypergrad_fn(loss, val_loss, params.T, None))(w0, hyper)
    rows = []
    for K in Ks:
        _, _, g = jax.jit(dm.hypergrad_fn(loss, val_loss, params.T, K))(w0, hyper)
        err = dm.relative_error(g, exact)
        rows.append(
            {
                "K": K,
                "memory_vectors": dm.stored_vectors(params.T, K),
                **{f"rel_err_{k}": v for k, v in err.items()},
                **{f"grad_{k}": float(jnp.sum(v)) for k, v in zip(dm.Hyper._fields, g)},
                **{f"exact_{k}": float(jnp.sum(v)) for k, v in zip(dm.Hyper._fields, exact)},
            }
        )
    recurrence = {}
    for K in (1, params.T):
        # unguarded: Alg. 2's instability as printed is what this measures
        literal = dm.Settings(velocity="recurrence", max_growth=None)
        _, _, g = jax.jit(dm.hypergrad_fn(loss, val_loss, params.T, K, literal))(w0, hyper)
        recurrence["drmad" if K == 1 else "exact_trajectory"] = dm.relative_error(g, exact)
    return pd.DataFrame(rows), recurrence


def inner_paths(params: DrmadParams, Ks: list[int]) -> pd.DataFrame:
    """The true inner trajectory at the initial hyperparameters and each K-piece linearization of it.

    Per row also ``checkpoint`` (1 where the forward pass stored w_t, so the line passes
    through the true point) and ``abs_err`` = |w_t − ŵ_t|, the error of the position the
    reverse pass reads at step t (0 on the true path, which K = T reproduces exactly).
    """
    w0, hyper = jnp.array([params.w0]), _hyper0(params)
    T, t = params.T, np.arange(params.T + 1)
    true = np.asarray(dm.trajectory(train_loss, w0, hyper, T))[:, 0]
    rows = [pd.DataFrame({"path": "true", "K": T, "t": t, "h": params.h0, "w": true, "checkpoint": 1, "abs_err": 0.0})]
    for K in Ks:
        if K == T:
            continue
        ckpt, _ = dm.momentum_checkpoints(train_loss, w0, hyper, T, K)
        path = np.asarray(reverse.interpolated_trajectory(ckpt, T))[:, 0]
        stored = np.isin(t, np.asarray(ckpt.times)).astype(int)
        rows.append(
            pd.DataFrame(
                {
                    "path": f"K={K}",
                    "K": K,
                    "t": t,
                    "h": params.h0,
                    "w": path,
                    "checkpoint": stored,
                    "abs_err": np.abs(path - true),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def outer_run(params: DrmadParams, K: int | None) -> pd.DataFrame:
    """One outer optimization of h (and log α if ``tune_lr``) with the hypergradient of method K."""
    fn = dm.hypergrad_fn(train_loss, val_loss, params.T, K)
    run = jax.jit(
        partial(dm.outer_loop, fn, steps=params.outer_steps, optimizer=_optimizer(params), tune_lr=params.tune_lr)
    )
    tr = jax.device_get(run(jnp.array([params.w0]), _hyper0(params)))
    return pd.DataFrame(
        {
            "method": method_name(K),
            "step": np.arange(params.outer_steps + 1),
            "h": tr.h[:, 0],
            "w": tr.w_T[:, 0],
            "lr": np.exp(tr.log_lr),
            "L_val": tr.val_loss,
            "grad_h": tr.grad.h[:, 0],
            "grad_log_lr": tr.grad.log_lr,
            "grad_momentum": tr.grad.momentum,
        }
    )


def final_val_loss(params: DrmadParams, h, lr) -> np.ndarray:
    """L_val(w_T) after the T inner steps from w_0 at each point (h, α), γ = ``params.momentum``.

    The outer objective every method descends (Maclaurin et al. 2015, Eq. 1), evaluated by the
    same forward pass, vmapped over the points: at an outer run's (h, α) it is that row's L_val.
    """
    w0, momentum = jnp.array([params.w0]), jnp.asarray(params.momentum)

    def one(h, lr):
        hyper = dm.Hyper(h[None], jnp.log(lr), momentum)
        return val_loss(dm.momentum_train(train_loss, w0, hyper, params.T).w)

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(h, dtype=float), jnp.asarray(lr, dtype=float)))


def _padded(lo: float, hi: float, pad: float) -> tuple[float, float]:
    span = max(hi - lo, 0.1)
    return lo - pad * span, hi + pad * span


def val_surface(params: DrmadParams, outer: dict[str, pd.DataFrame], n: int = VAL_GRID) -> pd.DataFrame:
    """L_val(w_T) on an n × n grid over (h, log α) spanning every outer run, rows (h, lr, L_val).

    The outer runs move in (h, α); their L_val(w_T) differs through α, which the (h, w_T)
    surfaces do not show. α is spaced evenly in log α, the coordinate the runs descend.
    """
    frames = list(outer.values())
    h_lo, h_hi = _padded(min(f.h.min() for f in frames), max(f.h.max() for f in frames), 0.1)
    a_lo, a_hi = _padded(
        float(np.log(min(f.lr.min() for f in frames))), float(np.log(max(f.lr.max() for f in frames))), 0.1
    )
    H, A = np.meshgrid(np.linspace(h_lo, h_hi, n), np.exp(np.linspace(a_lo, a_hi, n)))
    return pd.DataFrame({"h": H.ravel(), "lr": A.ravel(), "L_val": final_val_loss(params, H.ravel(), A.ravel())})


def _temp_bytes(params: DrmadParams, K: int | None, d: int) -> int:
    """XLA's compiled temporary buffers of the whole jitted hypergradient at d parameters (compiled, not run)."""
    w0 = jnp.full((d,), params.w0)
    hyper = dm.Hyper(jnp.full((d,), params.h0), jnp.log(params.lr), jnp.asarray(params.momentum))
    compiled = jax.jit(dm.hypergrad_fn(train_loss, val_loss, params.T, K)).lower(w0, hyper).compile()
    stats = compiled.memory_analysis()
    return -1 if stats is None else int(stats.temp_size_in_bytes)


def memory_table(params: DrmadParams, Ks: list[int]) -> pd.DataFrame:
    """Trajectory vectors each method's reverse pass keeps, measured and by formula.

    ``checkpoint_rows``: rows of the buffer the K-piece forward pass returned. ``measured_vectors``:
    the growth of XLA's compiled temporaries from d = 1 to d = 1 + MEMORY_DD parameters, divided by
    the bytes of that many numbers, i.e. how many length-d vectors the program holds besides its
    inputs (fixed overhead cancels). ``formula_vectors``: K + 1 (T + 1 for exact reverse mode).
    """
    itemsize = jnp.zeros(()).dtype.itemsize
    rows = []
    for K in [None, *Ks]:
        small, large = _temp_bytes(params, K, 1), _temp_bytes(params, K, 1 + MEMORY_DD)
        ckpt_rows = np.nan
        if K is not None:
            ckpt, _ = dm.momentum_checkpoints(train_loss, jnp.array([params.w0]), _hyper0(params), params.T, K)
            ckpt_rows = int(ckpt.w.shape[0])
        rows.append(
            {
                "method": method_name(K),
                "K": params.T if K is None else K,
                "formula_vectors": dm.stored_vectors(params.T, K),
                "checkpoint_rows": ckpt_rows,
                "measured_vectors": (large - small) / (MEMORY_DD * itemsize) if min(small, large) >= 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def headline(report: dict) -> dict:
    """DrMAD (K = 1) against exact reverse mode: the learning-rate hypergradient error and where the outer run ends."""
    drmad = report["K"]["1"]
    return {
        "drmad_rel_err_log_lr": drmad["rel_err"]["log_lr"],
        "drmad_final_lr": drmad["final_lr"],
        "exact_final_lr": report["exact"]["final_lr"],
        "drmad_final_L_val": drmad["final_L_val"],
    }


def outer_gap(tables: dict[str, pd.DataFrame], Ks: list[int]) -> dict[str, float]:
    """Largest |Δh| and |Δw_T| between any K-piece outer path and exact reverse mode's, over all steps.

    Small on the quadratic toy (its h-hypergradient is exact for every K): the paths in (h, w_T)
    differ only through the learning rate each method tunes.
    """
    ref = tables[f"outer_{EXACT}.csv"]
    gaps = [tables[f"outer_{method_name(K)}.csv"] for K in Ks]
    return {
        "h": max(float(np.max(np.abs(g.h.to_numpy() - ref.h.to_numpy()))) for g in gaps),
        "w_T": max(float(np.max(np.abs(g.w.to_numpy() - ref.w.to_numpy()))) for g in gaps),
    }


def _report(params: DrmadParams, Ks: list[int], tables: dict[str, pd.DataFrame], recurrence: dict) -> dict:
    """report.json: per method its memory (formula and measured), hypergradient errors and where its outer run ends."""
    err_q, err_4, memory = tables["error_quadratic.csv"], tables["error_quartic.csv"], tables["memory.csv"]
    measured = dict(zip(memory.method, memory.measured_vectors))

    def final(name):
        f = tables[f"outer_{name}.csv"].iloc[-1]
        return {
            "final_h": float(f.h),
            "final_lr": float(f.lr),
            "final_L_val": float(f.L_val),
            "measured_vectors": float(measured[name]),
        }

    per_K = {}
    for (_, q), (_, r) in zip(err_q.iterrows(), err_4.iterrows()):
        K = int(q.K)
        per_K[str(K)] = {
            "memory_vectors": int(q.memory_vectors),
            "rel_err": {k: float(q[f"rel_err_{k}"]) for k in dm.Hyper._fields},
            "rel_err_quartic": {k: float(r[f"rel_err_{k}"]) for k in dm.Hyper._fields},
            **final(method_name(K)),
        }
    return {
        "T": params.T,
        "pieces": Ks,
        EXACT: {"memory_vectors": dm.stored_vectors(params.T, None), **final(EXACT)},
        "K": per_K,
        "alg2_velocity_recurrence_rel_err": recurrence,
        "outer_gap_to_exact": outer_gap(tables, Ks),
    }


def run(params: DrmadParams, progress: Progress = silent) -> Result:
    """Every table (``error_*.csv``, ``inner.csv``, ``outer_<method>.csv``, ``val_surface.csv``,
    ``memory.csv``), the report and the headline."""
    Ks = pieces_to_run(params.pieces, params.T)
    quartic = partial(dm.quartic_train_loss, coef=params.quartic)
    err_q, rec_q = error_table(train_loss, params, Ks)
    err_4, rec_4 = error_table(quartic, params, Ks)
    tables = {"error_quadratic.csv": err_q, "error_quartic.csv": err_4, "inner.csv": inner_paths(params, Ks)}
    outer = {}
    for K in progress([None, *Ks], desc="outer runs"):
        outer[method_name(K)] = frame = outer_run(params, K)
        log.info(
            "%s: final h %.4f, lr %.4f, L_val %.3g",
            method_name(K),
            frame.h.iloc[-1],
            frame.lr.iloc[-1],
            frame.L_val.iloc[-1],
        )
    tables.update({f"outer_{name}.csv": frame for name, frame in outer.items()})
    tables["val_surface.csv"] = val_surface(params, outer)
    tables["memory.csv"] = memory_table(params, Ks)
    report = _report(params, Ks, tables, {"quadratic": rec_q, "quartic": rec_4})
    return Result(tables, headline(report), report)
