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

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from hyperlab.bilevel import drmad as dm
from hyperlab.bilevel.toy import train_loss, val_loss
from hyperlab.progress import Progress, silent
from hyperlab.report import Result

log = logging.getLogger("hyperlab.drmad")

EXACT = "exact"  # method name of exact reverse mode (jax.grad through the scan)


def method_name(K: int | None) -> str:
    return EXACT if K is None else f"K{K}"


def pieces_to_run(pieces, T: int) -> list[int]:
    """The configured K plus K = 1 (DrMAD) and K = T (exact trajectory), sorted."""
    return sorted(set(pieces) | {1, T})


def _hyper0(params) -> dm.Hyper:
    return dm.Hyper(jnp.array([params.h0]), jnp.log(jnp.asarray(params.lr)), jnp.asarray(params.momentum))


def _optimizer(params) -> optax.GradientTransformation:
    return optax.adam(params.outer_lr) if params.outer_optimizer == "adam" else optax.sgd(params.outer_lr)


def error_table(loss, params, Ks: list[int]) -> tuple[pd.DataFrame, dict]:
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
        _, _, g = jax.jit(dm.hypergrad_fn(loss, val_loss, params.T, K, "recurrence", max_growth=None))(w0, hyper)
        recurrence["drmad" if K == 1 else "exact_trajectory"] = dm.relative_error(g, exact)
    return pd.DataFrame(rows), recurrence


def inner_paths(params, Ks: list[int]) -> pd.DataFrame:
    """The true inner trajectory at the initial hyperparameters and each K-piece linearization of it."""
    w0, hyper = jnp.array([params.w0]), _hyper0(params)
    T = params.T
    rows = [
        pd.DataFrame(
            {
                "path": "true",
                "K": T,
                "t": np.arange(T + 1),
                "h": params.h0,
                "w": np.asarray(dm.trajectory(train_loss, w0, hyper, T))[:, 0],
            }
        )
    ]
    for K in Ks:
        if K == T:
            continue
        ckpt, _ = dm.train_checkpoints(train_loss, w0, hyper, T, K)
        path = np.asarray(dm.interpolated_trajectory(ckpt, T))[:, 0]
        rows.append(pd.DataFrame({"path": f"K={K}", "K": K, "t": np.arange(T + 1), "h": params.h0, "w": path}))
    return pd.concat(rows, ignore_index=True)


def outer_run(params, K: int | None) -> pd.DataFrame:
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


def headline(report: dict) -> dict:
    """DrMAD (K = 1) against exact reverse mode: the learning-rate hypergradient error and where the outer run ends."""
    drmad = report["K"]["1"]
    return {
        "drmad_rel_err_log_lr": drmad["rel_err"]["log_lr"],
        "drmad_final_lr": drmad["final_lr"],
        "exact_final_lr": report["exact"]["final_lr"],
        "drmad_final_L_val": drmad["final_L_val"],
    }


def run(params, progress: Progress = silent) -> Result:
    """Every table (``error_*.csv``, ``inner.csv``, ``outer_<method>.csv``), the report and the headline."""
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

    def final(name):
        f = outer[name].iloc[-1]
        return {"final_h": float(f.h), "final_lr": float(f.lr), "final_L_val": float(f.L_val)}

    per_K = {}
    for (_, q), (_, r) in zip(err_q.iterrows(), err_4.iterrows()):
        K = int(q.K)
        per_K[str(K)] = {
            "memory_vectors": int(q.memory_vectors),
            "rel_err": {k: float(q[f"rel_err_{k}"]) for k in dm.Hyper._fields},
            "rel_err_quartic": {k: float(r[f"rel_err_{k}"]) for k in dm.Hyper._fields},
            **final(method_name(K)),
        }
    report = {
        "T": params.T,
        "pieces": Ks,
        EXACT: {"memory_vectors": dm.stored_vectors(params.T, None), **final(EXACT)},
        "K": per_K,
        "alg2_velocity_recurrence_rel_err": {"quadratic": rec_q, "quartic": rec_4},
    }
    return Result(tables, headline(report), report)
