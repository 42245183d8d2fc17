"""Hypernetworks for hyperparameter optimization on the toy bilevel problem.

Lorraine & Duvenaud 2018, "Stochastic Hyperparameter Optimization through
Hypernetworks" (docs/REFERENCES.md §4). A hypernetwork w_phi(h) is trained to
approximate the best response w*(h) = argmin_w L_train(w, h); the outer problem
then descends h on L_val(w_phi(h)), differentiating through the hypernetwork
instead of through the inner optimization.

* Global variant (their Algorithm 1): phi minimizes E_{h ~ U[low, high]}
  L_train(w_phi(h), h) (their Eq. 3 with p(h) uniform over a range); then, with
  phi frozen, h minimizes L_val(w_phi(h)).
* Local / joint variant (their Algorithm 2): every step samples
  h ~ N(h_hat, sigma^2), takes one phi step on L_train(w_phi(h), h), then one
  h_hat step on L_val(w_phi(h_hat)); the hypernetwork only has to be right in a
  neighbourhood of the current h_hat.

On the toy L_train = |h + w|^2, L_val = |w|^2 the best response w*(h) = -h is
linear, so a linear hypernetwork can be exact (A = -I, b = 0).

Both loops are ``lax.scan``s inside one ``jit``, ``vmap``-ed over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from hyperlab.bilevel.names import HYPERNET_KINDS as KINDS
from hyperlab.bilevel.names import HYPERNET_VARIANTS as VARIANTS
from hyperlab.bilevel.toy import best_response, train_loss, val_loss


class LinearHypernet(nn.Module):
    """w_phi(h) = A h + b."""

    dim: int

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        return nn.Dense(self.dim, name="affine")(h)


class MLPHypernet(nn.Module):
    """A small tanh MLP h -> w; smooth, so its fit degrades gracefully outside the data."""

    dim: int
    hidden: Sequence[int] = (32, 32)

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        x = h
        for i, width in enumerate(self.hidden):
            x = nn.tanh(nn.Dense(width, name=f"hidden_{i}")(x))
        return nn.Dense(self.dim, name="out")(x)


def make_hypernet(kind: str, dim: int = 1, hidden: Sequence[int] = (32, 32)) -> nn.Module:
    """The hypernetwork of ``kind`` ("linear" or "mlp") mapping R^dim -> R^dim."""
    if kind == "linear":
        return LinearHypernet(dim)
    if kind == "mlp":
        return MLPHypernet(dim, tuple(hidden))
    raise ValueError(f"unknown hypernetwork kind {kind!r}; allowed: {', '.join(KINDS)}")


class GlobalSettings(NamedTuple):
    """Global variant: phi fitted on h ~ U[low, high], then h descended with phi frozen."""

    low: float
    high: float
    h0: float
    batch: int
    phi_steps: int
    phi_lr: float
    h_steps: int
    h_lr: float


class LocalSettings(NamedTuple):
    """Local variant: ``steps`` alternations of one phi step (h ~ N(h_hat, sigma^2)) and one h_hat step."""

    h0: float
    sigma: float
    batch: int
    steps: int
    phi_lr: float
    h_lr: float


class Run(NamedTuple):
    """One run (leading seed axis when vmapped).

    Index t is the state before outer step t (t = 0..steps): ``h_path[t]`` is
    h_hat, ``w_path[t]`` the hypernetwork's w_phi(h_hat) with phi as it is then
    (for the local variant phi changes along the way), ``probe_path[t]`` (local
    variant, when a probe grid is given) w_phi on that grid: how the learned
    curve moves with h_hat. ``phi_loss[t]`` is the sampled L_train objective of
    phi step t.
    """

    phi: dict
    h_path: jax.Array
    w_path: jax.Array
    phi_loss: jax.Array
    probe_path: jax.Array | None = None


def phi_objective(net: nn.Module, phi, hs: jax.Array) -> jax.Array:
    """Monte-Carlo estimate of E_h L_train(w_phi(h), h) over the batch ``hs`` (n, d) (L&D Eq. 3)."""
    ws = net.apply(phi, hs)
    return jnp.mean(jax.vmap(train_loss)(ws, hs))


def outer_objective(net: nn.Module, phi, h: jax.Array) -> jax.Array:
    """L_val(w_phi(h)): the validation loss seen through the hypernetwork."""
    return val_loss(net.apply(phi, h))


def _init(net: nn.Module, key: jax.Array, dim: int):
    return net.init(key, jnp.zeros((dim,)))


def _h_descent(net: nn.Module, phi, h0: jax.Array, steps: int, lr: float):
    """``steps`` SGD steps on L_val(w_phi(h)) with phi frozen; path of h and of w_phi(h)."""
    grad = jax.grad(outer_objective, argnums=2)

    def step(h, _):
        return h - lr * grad(net, phi, h), h

    h_last, hs = jax.lax.scan(step, h0, None, length=steps)
    h_path = jnp.concatenate([hs, h_last[None]])
    return h_path, net.apply(phi, h_path)


def run_global(net: nn.Module, key: jax.Array, s: GlobalSettings, dim: int = 1) -> Run:
    """Global hypernetwork (L&D Algorithm 1) for one seed; jit/vmap it over keys.

    Phi uses Adam with a cosine-decayed step: the linear family contains w*
    exactly, so every per-sample gradient vanishes at the optimum and a decayed
    step lets phi settle there instead of hovering at the scale of the step.
    """
    k_init, k_data = jax.random.split(key)
    phi = _init(net, k_init, dim)
    opt = optax.adam(optax.cosine_decay_schedule(s.phi_lr, s.phi_steps))
    loss_and_grad = jax.value_and_grad(lambda p, hs: phi_objective(net, p, hs))

    def phi_step(carry, k):
        phi, opt_state = carry
        hs = jax.random.uniform(k, (s.batch, dim), minval=s.low, maxval=s.high)
        loss, g = loss_and_grad(phi, hs)
        updates, opt_state = opt.update(g, opt_state, phi)
        return (optax.apply_updates(phi, updates), opt_state), loss

    keys = jax.random.split(k_data, s.phi_steps)
    (phi, _), losses = jax.lax.scan(phi_step, (phi, opt.init(phi)), keys)
    h_path, w_path = _h_descent(net, phi, jnp.full((dim,), s.h0), s.h_steps, s.h_lr)
    return Run(phi, h_path, w_path, losses)


def run_local(net: nn.Module, key: jax.Array, s: LocalSettings, dim: int = 1, probe: jax.Array | None = None) -> Run:
    """Local / joint hypernetwork (L&D Algorithm 2) for one seed; jit/vmap it over keys.

    Phi uses Adam at a constant step (it tracks a moving target); h_hat plain SGD,
    as in the global variant, so both outer loops take the same kind of step.
    ``probe`` (n, d), if given, is evaluated through w_phi at every outer step.
    """
    k_init, k_data = jax.random.split(key)
    phi = _init(net, k_init, dim)
    opt = optax.adam(s.phi_lr)
    loss_and_grad = jax.value_and_grad(lambda p, hs: phi_objective(net, p, hs))
    h_grad = jax.grad(outer_objective, argnums=2)

    def observe(phi, h_hat):
        return net.apply(phi, h_hat), (None if probe is None else net.apply(phi, probe))

    def step(carry, k):
        phi, opt_state, h_hat = carry
        seen = observe(phi, h_hat)  # the state at time t, before step t changes it
        hs = h_hat + s.sigma * jax.random.normal(k, (s.batch, dim))
        loss, g = loss_and_grad(phi, hs)
        updates, opt_state = opt.update(g, opt_state, phi)
        phi = optax.apply_updates(phi, updates)
        # The h_hat step uses the phi just updated, as in L&D Algorithm 2.
        h_next = h_hat - s.h_lr * h_grad(net, phi, h_hat)
        return (phi, opt_state, h_next), (h_hat, seen, loss)

    h0 = jnp.full((dim,), s.h0)
    keys = jax.random.split(k_data, s.steps)
    (phi, _, h_last), (hs, seen, losses) = jax.lax.scan(step, (phi, opt.init(phi), h0), keys)
    last = observe(phi, h_last)
    h_path = jnp.concatenate([hs, h_last[None]])
    w_path, probe_path = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), seen, last)
    return Run(phi, h_path, w_path, losses, probe_path)


def run_seeds(
    variant: str, net: nn.Module, keys: jax.Array, settings, dim: int = 1, probe: jax.Array | None = None
) -> Run:
    """``run_global`` or ``run_local`` for every key, vmapped and jitted as one program.

    ``probe`` is used by the local variant only (the global curve is frozen
    during its h phase; evaluate it with :func:`response_curve`).
    """
    if variant == "global":
        return jax.jit(jax.vmap(lambda k: run_global(net, k, settings, dim)))(keys)
    if variant == "local":
        return jax.jit(jax.vmap(lambda k: run_local(net, k, settings, dim, probe)))(keys)
    raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")


def response_curve(net: nn.Module, phi, hs: jax.Array) -> jax.Array:
    """w_phi(h) for every row of ``hs`` (n, d)."""
    return cast(jax.Array, net.apply(phi, hs))  # no mutable collections: the output alone


def rms_error(net: nn.Module, phi, low: float, high: float, dim: int = 1, n: int = 201) -> jax.Array:
    """RMS of |w_phi(h) - w*(h)| over ``n`` evenly spaced h on the diagonal of [low, high]^d."""
    hs = jnp.linspace(low, high, n)[:, None] * jnp.ones((1, dim))
    err = response_curve(net, phi, hs) - best_response(hs)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(err), axis=-1)))
