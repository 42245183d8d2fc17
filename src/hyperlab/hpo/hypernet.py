"""A local hypernetwork best response on the MNIST problem (Lorraine & Duvenaud 2018, Algorithm 2).

w_φ(λ) = A λ + b is the library's linear hypernetwork
(:func:`hyperlab.bilevel.hypernet.make_hypernet`, output = every flat weight of the
MLP), started at A = 0, b = w_T(h0) (one training run at the initial h). Every
iteration samples λ_i ~ N(λ̂, σ²) (``batch`` of them), takes one Adam step of φ on
mean_i L_train(w_φ(λ_i), λ_i), then one Adam step of λ̂ on CE_val(w_φ(λ̂)). The best
response does not depend on the learning rate, so only the L2 coefficients are tuned
(log α stays at h0's). :mod:`hyperlab.bilevel.hypernet` itself is written for the toy
losses; this is the same algorithm on any ``(train, val)`` pair.

A caveat the results show: w_φ approximates argmin_w L_train (training to convergence),
while the objective trains T steps; the λ̂ it finds is judged by f(λ̂) = CE_val(w_T).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.bilevel.hypernet import make_hypernet
from hyperlab.hpo.budget import Round
from hyperlab.hpo.problem import Spec, make_losses, project, train


class HypernetSettings(NamedTuple):
    every: int  # φ/λ̂ iterations per round (then f(λ̂) is evaluated)
    batch: int  # λ samples per φ step
    sigma: float  # spread of the samples around λ̂
    phi_lr: float
    outer_lr: float


class State(NamedTuple):
    phi: dict
    phi_opt: optax.OptState
    h: jax.Array
    h_opt: optax.OptState
    key: jax.Array


def _parts(spec: Spec, s: HypernetSettings, dim_w: int):
    net = make_hypernet("linear", dim=dim_w)
    return net, optax.adam(s.phi_lr), optax.adam(s.outer_lr)


def init(spec: Spec, s: HypernetSettings) -> Callable:
    """Jitted ``(data, tree, w0, h0, key) -> State``: φ = (A = 0, b = w_T(h0))."""

    @jax.jit
    def start(data, tree, w0, h0, key):
        net, phi_opt, h_opt = _parts(spec, s, w0.shape[0])
        phi = net.init(jax.random.PRNGKey(0), jnp.zeros((spec.n_layers,), w0.dtype))
        b = train(spec, make_losses(spec, data, tree), w0, h0)
        phi = jax.tree_util.tree_map(jnp.zeros_like, phi)
        phi["params"]["affine"]["bias"] = b
        return State(phi, phi_opt.init(phi), h0, h_opt.init(h0), key)

    return start


def chunk(spec: Spec, s: HypernetSettings) -> Callable:
    """Jitted ``(data, tree, w0, state) -> state``: ``s.every`` iterations of Algorithm 2."""

    @jax.jit
    def run(data, tree, w0, state):
        losses = make_losses(spec, data, tree)
        net, phi_opt, h_opt = _parts(spec, s, w0.shape[0])
        L = spec.n_layers

        def phi_loss(phi, lams):
            return jnp.mean(jax.vmap(lambda lam: losses.train(net.apply(phi, lam), lam))(lams))

        def val_loss(lam, phi):
            return losses.val(net.apply(phi, lam))

        def body(st: State, _):
            key, sub = jax.random.split(st.key)
            lams = st.h[:L] + s.sigma * jax.random.normal(sub, (s.batch, L), st.h.dtype)
            g = jax.grad(phi_loss)(st.phi, lams)
            upd, phi_state = phi_opt.update(g, st.phi_opt, st.phi)
            phi = optax.apply_updates(st.phi, upd)
            g_h = jnp.zeros_like(st.h).at[:L].set(jax.grad(val_loss)(st.h[:L], phi))
            upd_h, h_state = h_opt.update(g_h, st.h_opt, st.h)
            h = project(spec, optax.apply_updates(st.h, upd_h))
            return State(phi, phi_state, h, h_state, key), None

        state, _ = jax.lax.scan(body, state, None, length=s.every)
        return state

    return run


def rounds(
    spec: Spec, s: HypernetSettings, start: Callable, run: Callable, f: Callable, data, tree, w0, h0, key
) -> Iterator[Round]:
    """f(h0) and the warm start (2T steps), then rounds of ``every`` iterations + f(λ̂) (T steps)."""
    h0 = jnp.asarray(h0)
    state = start(data, tree, w0, h0, key)
    yield Round(2 * spec.T, np.asarray(h0), float(f(data, tree, w0, h0)))
    while True:
        state = run(data, tree, w0, state)
        yield Round(s.every * s.batch + spec.T, np.asarray(state.h), float(f(data, tree, w0, state.h)))
