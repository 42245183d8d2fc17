"""n-order (n-step unrolled) and exact (implicit-function) hypergradients, and the outer loop.

The bilevel problem is

    min_h  L_val(w*(h), h)    s.t.   w*(h) = argmin_w L_train(w, h),

for any pair of losses ``train_loss(w, h)``, ``val_loss(w, h)`` over pytrees
``w`` and ``h``. Two ways to get d L_val / d h:

* :func:`unrolled_hypergrad` -- the *n-order* hypergradient: take n inner
  gradient-descent steps from the current ``w`` (held constant) and
  differentiate ``L_val(w_n(h), h)`` with ``jax.grad`` through the ``lax.scan``
  unroll (truncated back-propagation; Shaban et al. 2019, Alg. 1 with K = n).
  n = 0 is DARTS' first-order approximation (Liu et al. 2019, eq. 7 with
  xi = 0); n = 1 is DARTS' second-order rule (eq. 7) and Luketina et al.
  2016's greedy rule (eq. 5), grad_h C2 = -eta (grad_w C2)^T grad_h grad_w C1.
* :func:`ift_hypergrad` -- the exact hypergradient at the inner optimum by the
  implicit function theorem (Lorraine et al. 2020, eq. 4):
  dL_val/dh = dL_val/dh|_w - (d^2 L_train / dh dw) [d^2 L_train / dw^2]^-1 dL_val/dw,
  with the inverse-Hessian product solved by conjugate gradients on
  Hessian-vector products (no Hessian is ever formed).

:func:`run_bilevel` is the outer loop: hypergradient -> optax update of h ->
``inner_steps`` gradient-descent steps of w, all in one jitted ``lax.scan``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypedDict, Unpack

import jax
import jax.numpy as jnp
import optax
from jax import lax

from hyperlab.bilevel.names import OUTER_OPTIMIZERS

PyTree = Any
Loss = Callable[[PyTree, PyTree], jax.Array]
HypergradFn = Callable[[PyTree, PyTree], PyTree]


def gd_step(train_loss: Loss, w: PyTree, h: PyTree, lr: float) -> PyTree:
    """One inner gradient-descent step w <- w - lr * dL_train/dw (w, h)."""
    g = jax.grad(train_loss)(w, h)
    return jax.tree_util.tree_map(lambda p, d: p - lr * d, w, g)


def unroll(train_loss: Loss, w: PyTree, h: PyTree, lr: float, n_steps, max_steps: int | None = None) -> PyTree:
    """``w`` after ``n_steps`` inner gradient-descent steps on ``train_loss(., h)``.

    With ``max_steps`` given, ``n_steps`` may be a traced integer: the scan runs
    ``max_steps`` steps and leaves ``w`` unchanged after the first ``n_steps``.
    That makes the order an array argument, so one compiled program (and one
    ``vmap``) serves every order instead of one compilation per order.
    """
    if max_steps is None:
        max_steps = int(n_steps)
        masked = False
    else:
        masked = True

    def body(w, i):
        w_next = gd_step(train_loss, w, h, lr)
        if masked:
            w_next = jax.tree_util.tree_map(lambda new, old: jnp.where(i < n_steps, new, old), w_next, w)
        return w_next, None

    w, _ = lax.scan(body, w, jnp.arange(max_steps))
    return w


def unrolled_hypergrad(
    train_loss: Loss, val_loss: Loss, w: PyTree, h: PyTree, *, lr: float, order, max_order: int | None = None
) -> PyTree:
    """The n-order hypergradient d/dh L_val(w_n(h), h), w_n = ``order`` GD steps from ``w``.

    ``w`` is a constant of the differentiation (only the unroll depends on h),
    exactly as in DARTS / Luketina et al.: the gradient flows through the n
    inner steps and no further back. Order 0 leaves only the direct term
    dL_val/dh at fixed w.
    """

    def outer(h):
        return val_loss(unroll(train_loss, w, h, lr, order, max_order), h)

    return jax.grad(outer)(h)


def ift_hypergrad(
    train_loss: Loss, val_loss: Loss, w_star: PyTree, h: PyTree, *, cg_maxiter: int = 100, cg_tol: float = 1e-10
) -> PyTree:
    """The exact hypergradient at the inner optimum ``w_star`` (implicit function theorem).

    Solves H v = dL_val/dw with H = d^2 L_train/dw^2 at (w_star, h) by conjugate
    gradients (H symmetric positive definite at a strict minimum), then
    returns dL_val/dh - (d/dh dL_train/dw)^T v (Lorraine et al. 2020, eq. 4).
    """
    w_star = lax.stop_gradient(w_star)
    gw_val, gh_val = jax.grad(val_loss, argnums=(0, 1))(w_star, h)
    grad_w_train = jax.grad(train_loss)

    def hvp(v):
        return jax.jvp(lambda w: grad_w_train(w, h), (w_star,), (v,))[1]

    v, _ = jax.scipy.sparse.linalg.cg(hvp, gw_val, tol=cg_tol, maxiter=cg_maxiter)
    _, vjp_h = jax.vjp(lambda hh: grad_w_train(w_star, hh), h)
    (cross,) = vjp_h(v)
    return jax.tree_util.tree_map(jnp.subtract, gh_val, cross)


def outer_optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """The optax optimizer of the outer (hyperparameter) problem."""
    if name == "sgd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=0.9)
    if name == "adam":
        return optax.adam(lr)
    raise ValueError(f"unknown outer optimizer {name!r}; allowed: {', '.join(OUTER_OPTIMIZERS)}")


class BilevelState(NamedTuple):
    """Carry of the outer loop."""

    w: PyTree
    h: PyTree
    opt_state: optax.OptState


class Record(NamedTuple):
    """One row of a trajectory: the state at the start of an outer step and its hypergradient."""

    w: PyTree
    h: PyTree
    train_loss: jax.Array
    val_loss: jax.Array
    hypergrad: PyTree
    hypergrad_norm: jax.Array


class OuterLoop(TypedDict):
    """The keyword arguments of :func:`run_bilevel`, as :func:`run_orders` and :func:`run_exact` pass them."""

    outer_opt: optax.GradientTransformation
    inner_lr: float
    inner_steps: int
    outer_steps: int


def run_bilevel(
    train_loss: Loss, val_loss: Loss, hypergrad_fn: HypergradFn, w0: PyTree, h0: PyTree, **loop: Unpack[OuterLoop]
) -> Record:
    """Alternate ``outer_steps`` hyper-updates and inner training; return the trajectory.

    One outer step: g = hypergrad_fn(w, h); h <- optax update with g; then w
    takes ``inner_steps`` gradient-descent steps on L_train(., h_new). The
    result has ``outer_steps + 1`` rows (the initial state ... the final state),
    each with the hypergradient at that state. Traceable: jit or vmap it.
    """

    def record(w, h):
        g = hypergrad_fn(w, h)
        return Record(w, h, train_loss(w, h), val_loss(w, h), g, optax.tree.norm(g))

    outer_opt = loop["outer_opt"]

    def step(state: BilevelState, _):
        rec = record(state.w, state.h)
        updates, opt_state = outer_opt.update(rec.hypergrad, state.opt_state, state.h)
        h = optax.apply_updates(state.h, updates)
        w = unroll(train_loss, state.w, h, loop["inner_lr"], loop["inner_steps"])
        return BilevelState(w, h, opt_state), rec

    init = BilevelState(w0, h0, outer_opt.init(h0))
    final, recs = lax.scan(step, init, None, length=loop["outer_steps"])
    last = record(final.w, final.h)
    return jax.tree_util.tree_map(lambda xs, x: jnp.concatenate([xs, x[None]]), recs, last)


def run_orders(train_loss: Loss, val_loss: Loss, w0: PyTree, h0: PyTree, orders, **loop: Unpack[OuterLoop]) -> Record:
    """:func:`run_bilevel` with the n-order hypergradient for every n in ``orders``, in one program.

    The order is a traced argument (masked unroll of ``max(orders)`` steps),
    so the loop is compiled once and vmapped over the orders; every leaf of
    the result gets a leading axis of ``len(orders)``.
    """
    orders = [int(n) for n in orders]
    max_order = max(orders)

    def one(order):
        def hypergrad_fn(w, h):
            return unrolled_hypergrad(train_loss, val_loss, w, h, lr=loop["inner_lr"], order=order, max_order=max_order)

        return run_bilevel(train_loss, val_loss, hypergrad_fn, w0, h0, **loop)

    return jax.jit(jax.vmap(one))(jnp.asarray(orders, dtype=jnp.int32))


def run_exact(
    train_loss: Loss,
    val_loss: Loss,
    best_response: Callable[[PyTree], PyTree],
    w0: PyTree,
    h0: PyTree,
    **loop: Unpack[OuterLoop],
) -> Record:
    """The reference run: the same loop, with the exact IFT hypergradient at w*(h) = ``best_response(h)``.

    The hyper-step then ignores how far the current w is from its optimum; w
    still follows the same inner training, so its trajectory is comparable.
    """

    def hypergrad_fn(w, h):
        del w
        return ift_hypergrad(train_loss, val_loss, best_response(h), h)

    run = jax.jit(lambda w0, h0: run_bilevel(train_loss, val_loss, hypergrad_fn, w0, h0, **loop))
    return run(w0, h0)
