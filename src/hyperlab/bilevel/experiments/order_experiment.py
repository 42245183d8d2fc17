"""The ``bilevel`` stage's experiment: every order n in ``bilevel.orders`` plus the exact reference.

Runs :func:`hyperlab.bilevel.hypergrad.run_orders` and ``run_exact`` on the toy
losses of :mod:`hyperlab.bilevel.toy` and turns the trajectories into tables
(one per run, and the main ``order``'s again as ``main.csv``) and the report
(per run and for the main order).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.bilevel import closed_form, hypergrad, toy
from hyperlab.bilevel.experiments.convergence import steps_to_tol
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only: the section model, never imported at run time
    from hyperlab.config import BilevelParams

log = logging.getLogger("hyperlab.bilevel")

COLUMNS = ("step", "h", "w", "L_train", "L_val", "hypergrad_norm", "h_norm", "w_norm")


def initial_vector(value, dim: int) -> jax.Array:
    """A params value (one number or ``dim`` numbers) as a vector of length ``dim``."""
    arr = np.atleast_1d(np.asarray(value, dtype=np.float32))
    return jnp.asarray(np.broadcast_to(arr, (dim,)).copy())


def _momentum(name: str) -> float | None:
    """The heavy-ball coefficient of a linear outer optimizer (None: not linear, no closed form)."""
    return {"sgd": 0.0, "momentum": 0.9}.get(name)


def _sig(x: float | np.floating | None, digits: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else float(f"{float(x):.{digits}g}")


def table(rec: hypergrad.Record, order: int | None) -> pd.DataFrame:
    """One run as rows (step, h, w, losses, norms); h and w are coordinate 0 (the whole vector if dim = 1)."""
    h, w = np.asarray(rec.h), np.asarray(rec.w)
    frame = pd.DataFrame(
        {
            "step": np.arange(h.shape[0]),
            "h": h[:, 0],
            "w": w[:, 0],
            "L_train": np.asarray(rec.train_loss),
            "L_val": np.asarray(rec.val_loss),
            "hypergrad_norm": np.asarray(rec.hypergrad_norm),
            "h_norm": np.linalg.norm(h, axis=1),
            "w_norm": np.linalg.norm(w, axis=1),
        },
        columns=list(COLUMNS),
    )
    if order is not None:
        frame.insert(0, "order", order)
    return frame


def run_metrics(rec: hypergrad.Record, exact_g0: np.ndarray, order: int | None, params: BilevelParams) -> dict:
    """Headline numbers of one run (``order=None``: the exact reference)."""
    g0 = np.asarray(rec.hypergrad)[0]
    h, w, val = np.asarray(rec.h), np.asarray(rec.w), np.asarray(rec.val_loss)
    denom = np.linalg.norm(g0) * np.linalg.norm(exact_g0)
    momentum = _momentum(params.outer_optimizer)
    rate = (
        None
        if momentum is None
        else closed_form.rate(order, params.inner_lr, params.outer_lr, params.inner_steps, momentum)
    )
    return {
        "final_L_val": _sig(val[-1]),
        "final_h_norm": _sig(np.linalg.norm(h[-1])),
        "final_w_norm": _sig(np.linalg.norm(w[-1])),
        "steps_to_tol": steps_to_tol(val, params.val_tol),
        "hypergrad_error_at_start": _sig(np.linalg.norm(g0 - exact_g0)),
        "hypergrad_cosine_at_start": _sig(float(g0 @ exact_g0) / denom) if denom > 0 else None,
        "step_factor": _sig(1.0 if order is None else closed_form.step_factor(order, params.inner_lr)),
        "rate": _sig(rate),
    }


def headline(report: dict) -> dict:
    """What `dvc exp show` compares: how well and how fast the main order and the exact hypergradient do."""
    return {
        "final_L_val": report["final_L_val"],
        "steps_to_tol": report["steps_to_tol"],
        "exact_steps_to_tol": report["exact"]["steps_to_tol"],
    }


def run(params: BilevelParams, main_order: int) -> Result:
    """Run every order of ``params.orders`` and the exact reference; ``main_order`` heads the report.

    Tables ``order_<n>.csv``, ``exact.csv`` and ``main.csv`` (the main order's
    run again, so ``dvc plots diff`` between ``-S order=...`` experiments
    compares the main runs). No ``progress`` argument: the orders are one
    compiled call, the exact reference another.
    """
    w0, h0 = initial_vector(params.w0, params.dim), initial_vector(params.h0, params.dim)
    loop = dict(
        outer_opt=hypergrad.outer_optimizer(params.outer_optimizer, params.outer_lr),
        inner_lr=params.inner_lr,
        inner_steps=params.inner_steps,
        outer_steps=params.outer_steps,
    )
    orders = [int(n) for n in params.orders]
    recs = hypergrad.run_orders(toy.train_loss, toy.val_loss, w0, h0, orders, **loop)
    exact = hypergrad.run_exact(toy.train_loss, toy.val_loss, toy.best_response, w0, h0, **loop)
    recs, exact = jax.device_get((recs, exact))
    exact_g0 = np.asarray(exact.hypergrad)[0]

    tables, per_order = {}, {}
    for i, n in enumerate(orders):
        rec = jax.tree_util.tree_map(lambda x, i=i: x[i], recs)
        tables[f"order_{n}.csv"] = table(rec, n)
        per_order[str(n)] = run_metrics(rec, exact_g0, n, params)
        log.info("order %d: %s", n, per_order[str(n)])
    tables["exact.csv"] = table(exact, None)
    tables["main.csv"] = tables[f"order_{main_order}.csv"]
    exact_metrics = run_metrics(exact, exact_g0, None, params)
    log.info("exact: %s", exact_metrics)

    report = {"order": main_order, **per_order[str(main_order)], "exact": exact_metrics, "orders": per_order}
    return Result(tables, headline(report), report)
