"""A local hypernetwork best response on the MNIST problem (Lorraine & Duvenaud 2018, Algorithm 2).

w_φ(λ) = A λ + b is the library's linear hypernetwork
(:func:`hyperlab.bilevel.hypernet.make_hypernet`, output = every flat weight of the
MLP), started at A = 0, b = w_T(h0) (one training run at the initial h). Every
iteration samples λ_i ~ N(λ̂, σ²) (``batch`` of them), takes one Adam step of φ on
mean_i L_train(w_φ(λ_i), λ_i), then one Adam step of λ̂ on CE_val(w_φ(λ̂)). λ is the
family's L2 coordinates of h (:mod:`hyperlab.hpo.families`); the best response does not
depend on the learning rate, so only they are tuned (the learning-rate coordinates stay
at h0's). φ has (d_λ + 1) × P entries: a family with many L2 coordinates makes it large.
:mod:`hyperlab.bilevel.hypernet` itself is written for the toy
losses; this is the same algorithm on any ``(train, val)`` pair.

A caveat the results show: w_φ approximates argmin_w L_train (training to convergence),
while the objective trains T steps; the λ̂ it finds is judged by f(λ̂) = CE_val(w_T).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.bilevel import reverse
from hyperlab.bilevel.hypernet import make_hypernet
from hyperlab.hpo.budget import Round
from hyperlab.hpo.cost import Cost
from hyperlab.hpo.families import Family
from hyperlab.hpo.problem import inner, project


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


def _parts(s: HypernetSettings, dim_w: int):
    net = make_hypernet("linear", dim=dim_w)
    return net, optax.adam(s.phi_lr), optax.adam(s.outer_lr)


def _l2(family: Family) -> np.ndarray:
    """The indices of h's L2 coordinates (λ)."""
    return np.flatnonzero(~family.is_lr)


def init(family: Family, T: int, s: HypernetSettings) -> Callable:
    """Jitted ``(data, tree, w0, h0, key) -> State``: φ = (A = 0, b = w_T(h0))."""

    @jax.jit
    def start(data, tree, w0, h0, key):
        net, phi_opt, h_opt = _parts(s, w0.shape[0])
        phi = net.init(jax.random.PRNGKey(0), jnp.zeros((len(_l2(family)),), w0.dtype))
        p = inner(family, data, tree)
        b = reverse.train(p.step, w0, h0, T)
        phi = jax.tree_util.tree_map(jnp.zeros_like, phi)
        phi["params"]["affine"]["bias"] = b
        return State(phi, phi_opt.init(phi), h0, h_opt.init(h0), key)

    return start


def chunk(family: Family, s: HypernetSettings) -> Callable:
    """Jitted ``(data, tree, w0, state) -> state``: ``s.every`` iterations of Algorithm 2."""
    lam_at = _l2(family)

    @jax.jit
    def run(data, tree, w0, state):
        p = inner(family, data, tree)
        net, phi_opt, h_opt = _parts(s, w0.shape[0])
        L = len(lam_at)

        def phi_loss(phi, lams, h):
            return jnp.mean(jax.vmap(lambda lam: p.train_loss(net.apply(phi, lam), h.at[lam_at].set(lam)))(lams))

        def val_loss(lam, phi):
            return p.val(net.apply(phi, lam))

        def body(st: State, _):
            key, sub = jax.random.split(st.key)
            lams = st.h[lam_at] + s.sigma * jax.random.normal(sub, (s.batch, L), st.h.dtype)
            g = jax.grad(phi_loss)(st.phi, lams, st.h)
            upd, phi_state = phi_opt.update(g, st.phi_opt, st.phi)
            phi = optax.apply_updates(st.phi, upd)
            g_h = jnp.zeros_like(st.h).at[lam_at].set(jax.grad(val_loss)(st.h[lam_at], phi))
            upd_h, h_state = h_opt.update(g_h, st.h_opt, st.h)
            h = project(family, optax.apply_updates(st.h, upd_h))
            return State(phi, phi_state, h, h_state, key), None

        state, _ = jax.lax.scan(body, state, None, length=s.every)
        return state

    return run


def rounds(T: int, s: HypernetSettings, pieces: tuple[Callable, Callable], f: Callable, args: tuple, h0, key):
    """f(h0) and the warm start (2T forward steps), then rounds of ``every`` iterations + f(λ̂) (T steps).

    ``pieces``: :func:`init` and :func:`chunk`, jitted once; ``args``: the seed's (data, tree, w0). An
    iteration's ``batch`` gradients of L_train are charged one forward step each (a gradient of L_train is
    what an inner step computes).
    """
    (start, run), (data, tree, w0) = pieces, args
    h0 = jnp.asarray(h0)
    state = start(data, tree, w0, h0, key)
    yield Round(Cost(2 * T), np.asarray(h0), float(f(data, tree, w0, h0)))
    while True:
        state = run(data, tree, w0, state)
        yield Round(Cost(s.every * s.batch + T), np.asarray(state.h), float(f(data, tree, w0, state.h)))
