"""The meta-loss of one truncated unroll (Andrychowicz et al. 2016, Sec. 2, Eq. 3).

L(phi) = (1/T) sum_{t=1..T} f(theta_t) over the T = ``unroll`` optimizee steps
the LSTM with weights phi takes, each f on its own minibatch. As in the paper,
second derivatives are dropped: the optimizee gradient nabla f(theta_t) enters
the LSTM as a constant (``stop_gradient``), so the meta-gradient flows only
through theta_t in f(theta_t) and through the LSTM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hyperlab.l2l import optimizee
from hyperlab.l2l.lstm_optimizer import LSTMConfig, lstm_optimizer
from hyperlab.l2l.names import META_OBJECTIVES

#: ``loss_fn(theta, key) -> scalar``: the optimizee loss of weights theta on the minibatch drawn with ``key``.
LossFn = Callable[[object, jax.Array], jax.Array]


class UnrollSettings(NamedTuple):
    """How one truncated unroll runs and what it scores (:func:`unroll`)."""

    cfg: LSTMConfig  # the learned optimizer
    objective: str  # ``l2l.meta_objective``: "mean" (Eq. 3) or "log_mean"
    first_order: bool = True  # the paper's: nabla f(theta_t) enters the LSTM as a constant; False only for tests
    remat: bool = True  # recompute each step in the backward pass instead of storing it


def unroll(phi, theta, opt_state, keys: jax.Array, loss_fn: LossFn, settings: UnrollSettings):
    """One truncated unroll of ``len(keys) - 1`` optimizee steps by the LSTM with weights ``phi``, from
    the optimizee weights ``theta`` and the LSTM state ``opt_state``.

    Returns ``(meta_loss, (theta, opt_state))``: the meta-loss over
    f(theta_1..theta_T) (each on its own minibatch) and the state to carry into
    the next unroll. ``objective="mean"`` is the paper's mean of f (Eq. 3);
    ``"log_mean"`` is the mean of log f, whose gradient weighs each step by
    1 / f(theta_t): the late unrolls of a run, where f is small, then pull on
    the LSTM as hard as the first one instead of ~40x less.
    """
    if settings.objective not in META_OBJECTIVES:
        raise ValueError(f"unknown objective {settings.objective!r}; allowed: {', '.join(META_OBJECTIVES)}")
    opt = lstm_optimizer(phi, settings.cfg)

    def step(carry, key):
        theta, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(theta, key)
        if settings.first_order:
            grads = jax.lax.stop_gradient(grads)
        updates, state = opt.update(grads, state, theta)
        return (optax.apply_updates(theta, updates), state), loss

    # Rematerialize each step in the backward pass: storing every LSTM gate
    # activation of every coordinate for the whole unroll costs memory growing
    # with its length and is no faster on CPU (bench/l2l_speed.py: 1.01x).
    body = jax.checkpoint(step) if settings.remat else step
    (theta, opt_state), losses = jax.lax.scan(body, (theta, opt_state), keys[:-1])
    # losses[0] is f(theta_0), a constant of phi: the meta-loss is over theta_1..theta_T.
    terms = jnp.append(losses[1:], loss_fn(theta, keys[-1]))
    meta_loss = jnp.mean(jnp.log(terms) if settings.objective == "log_mean" else terms)
    return meta_loss, (theta, opt_state)


def mnist_loss_fn(x: jax.Array, y: jax.Array, spec: optimizee.MLPSpec, batch_size: int) -> LossFn:
    def loss_fn(theta, key):
        xb, yb = optimizee.minibatch(key, x, y, batch_size)
        return optimizee.loss(theta, xb, yb, spec.activation)

    return loss_fn
