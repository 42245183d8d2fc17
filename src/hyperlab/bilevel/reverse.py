"""Reverse-mode hypergradients of any inner step map, along a stored or interpolated trajectory.

The inner run is ``T`` applications of a step map, ``w_{t+1} = Φ(w_t, h, t)`` for
t = 0..T-1 (plain gradient descent with a per-step, per-weight learning rate, a
regularizer that depends on h, ...). The hypergradient of L_val(w_T) is the
reverse pass of Maclaurin, Duvenaud & Adams 2015 (Alg. 2, here for any Φ):

    dw ← ∇L_val(w_T),  dh ← 0;   for t = T-1..0:  (dw, dh_t) ← (dw ∂Φ/∂w, dw ∂Φ/∂h) at (w_t, h, t),  dh += dh_t,

one ``jax.vjp`` of Φ per step. The positions w_t come from a trajectory oracle
(:class:`hyperlab.bilevel.drmad.Checkpoints`): K + 1 stored iterates, linearly
interpolated in between. K = T is exact reverse mode; K = 1 is DrMAD (Fu et al.
2016, arXiv 1601.00917), the straight line from w_0 to w_T.

**The divergence guard.** Along an approximate trajectory the Hessians are taken at the
wrong points; at a high learning rate the products (I − α H) then grow without bound
and the pass returns 10⁵-times-too-large numbers or NaN. :func:`reverse_pass` stops
the pass at the first step whose adjoint is not finite or has grown more than
``max_growth`` (:data:`hyperlab.bilevel.drmad.MAX_GROWTH`) times ∇L_val(w_T): what it
returns is then the hypergradient through the last steps it reversed (the truncated
back-propagation of Shaban et al. 2019, arXiv 1810.10667), and it says how many that
was. Below the bound nothing changes. The same guard protects
:func:`hyperlab.bilevel.drmad.reverse_pass` (SGD with momentum).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from hyperlab.bilevel.drmad import (
    MAX_GROWTH,
    Checkpoints,
    checkpoint_times,
    empty_checkpoints,
    keep_checkpoint,
    position,
    within_bound,
)

Array = jax.Array
StepMap = Callable[[Array, Array, Array], Array]  # (w_t, h, t) -> w_{t+1}
ValLoss = Callable[[Array], Array]


class Reversed(NamedTuple):
    """A reverse pass's hypergradient and how many of the T steps it went back through."""

    grad: Array
    steps: Array  # T: the whole pass; fewer: the guard stopped it there


def train(step: StepMap, w0: Array, h: Array, T: int) -> Array:
    """w_T: T applications of the step map from w0 (only the current iterate is kept)."""

    def body(w, t):
        return step(w, h, t), None

    w, _ = jax.lax.scan(body, w0, jnp.arange(T, dtype=jnp.int32))
    return w


def train_checkpoints(step: StepMap, w0: Array, h: Array, T: int, K: int) -> Checkpoints:
    """The forward pass keeping K + 1 evenly spread iterates (K = T: the whole trajectory)."""
    times = jnp.asarray(checkpoint_times(T, K))

    def body(carry, t):
        w, buf = carry
        w = step(w, h, t)  # w_{t+1}
        return (w, keep_checkpoint(buf, times, t + 1, w)), None

    (_, buf), _ = jax.lax.scan(body, (w0, empty_checkpoints(w0, K)), jnp.arange(T, dtype=jnp.int32))
    return Checkpoints(times, buf)


def reverse_pass(
    step: StepMap, val_loss: ValLoss, h: Array, ckpt: Checkpoints, T: int, max_growth: float = MAX_GROWTH
) -> Reversed:
    """dL_val(w_T)/dh by the reverse pass along the oracle ``ckpt``, guarded (module docstring)."""
    dw = jax.grad(val_loss)(position(ckpt, T))
    bound = max_growth * jnp.linalg.norm(jnp.ravel(dw))

    def body(carry, t):
        dw, dh, alive, steps = carry
        _, vjp = jax.vjp(lambda w, hh: step(w, hh, t), position(ckpt, t), h)
        new_dw, dh_t = vjp(dw)
        new_dh = dh + dh_t
        ok = alive & within_bound(new_dw, new_dh, bound)
        return (jnp.where(ok, new_dw, dw), jnp.where(ok, new_dh, dh), ok, steps + ok.astype(jnp.int32)), None

    init = (dw, jnp.zeros_like(h), jnp.asarray(True), jnp.zeros((), jnp.int32))
    (_, dh, _, steps), _ = jax.lax.scan(body, init, jnp.arange(T - 1, -1, -1, dtype=jnp.int32))
    return Reversed(dh, steps)


def checkpointed_hypergrad(
    step: StepMap, val_loss: ValLoss, w0: Array, h: Array, T: int, K: int, max_growth: float = MAX_GROWTH
) -> tuple[Array, Reversed]:
    """(L_val(w_T), the guarded reverse pass along the K-piece linearization); K = 1 is DrMAD."""
    ckpt = train_checkpoints(step, w0, h, T, K)
    return val_loss(position(ckpt, T)), reverse_pass(step, val_loss, h, ckpt, T, max_growth)


def exact_hypergrad(step: StepMap, val_loss: ValLoss, w0: Array, h: Array, T: int) -> tuple[Array, Array]:
    """(L_val(w_T), dL_val/dh) by ``jax.grad`` through the scan: the reference (memory T + 1 iterates)."""
    return jax.value_and_grad(lambda hh: val_loss(train(step, w0, hh, T)))(h)


def lookahead_hypergrad(
    step: StepMap, val_loss: ValLoss, w: Array, h: Array, t0: Array, order: int
) -> tuple[Array, Array]:
    """The n-order hypergradient at w_{t0}: d/dh L_val after ``order`` more steps t0..t0+n-1 from w
    (w held constant; the online methods' greedy approximation, Franceschi et al. 2017)."""

    def after(hh):
        def body(v, i):
            return step(v, hh, t0 + i), None

        v, _ = jax.lax.scan(body, jax.lax.stop_gradient(w), jnp.arange(order, dtype=jnp.int32))
        return val_loss(v)

    return jax.value_and_grad(after)(h)
