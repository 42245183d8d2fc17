"""The HPO problem: an MLP on MNIST, its per-layer L2 and its learning rate.

Inner problem (full batch, so every trajectory is a deterministic function of h, as the
reverse passes of Maclaurin et al. 2015 / DrMAD assume), for t = 1..T:

    w_t = w_{t-1} - exp(log α) ∇_w L_train(w_{t-1}, λ),
    L_train(w, λ) = CE_train(w) + Σ_l ½ exp(λ_l) ‖W_l‖²      (kernels only; biases free),

from one fixed initialization w_0 per seed. Outer objective f(h) = CE_val(w_T(h)), h =
(λ_1..λ_L[, log α]). The weights are a pytree ``{"dense_i": {"kernel", "bias"}}``;
the gradient methods see it flattened (``jax.flatten_util.ravel_pytree``), because
:mod:`hyperlab.bilevel.drmad` works on one array. Plain gradient descent is the
momentum-free case (γ = 0) of :func:`hyperlab.bilevel.drmad.sgd_momentum_step`, so the
same training serves the objective, exact reverse mode, DrMAD and the online
n-order methods (:func:`hyperlab.bilevel.hypergrad.gd_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hyperlab.bilevel import drmad as dm


class Data(NamedTuple):
    """The splits as float arrays (n, d) and int labels (n,): a jit argument, never a constant."""

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array
    x_test: jax.Array
    y_test: jax.Array


class Spec(NamedTuple):
    """Everything static about the problem (hashable: closures and jit see it as a constant)."""

    sizes: tuple[int, ...]  # layer widths, input to output: (784, 50, 10)
    T: int  # inner gradient steps
    tune_lr: bool  # h has a last coordinate log α
    log_lr: float  # log α when it is not tuned
    low: tuple[float, ...]  # the box of h, per coordinate
    high: tuple[float, ...]

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def dim(self) -> int:
        return self.n_layers + int(self.tune_lr)


def init_weights(sizes, key: jax.Array, dtype=jnp.float32) -> dict:
    """LeCun-normal kernels and zero biases (Flax's ``Dense`` default), as a pytree."""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        key, sub = jax.random.split(key)
        kernel = jax.random.normal(sub, (n_in, n_out), dtype) / np.sqrt(n_in)
        params[f"dense_{i}"] = {"kernel": kernel, "bias": jnp.zeros((n_out,), dtype)}
    return params


def forward(params: dict, x: jax.Array) -> jax.Array:
    """Logits of the tanh MLP (tanh: smooth, so Hessian-vector products and finite differences behave)."""
    n = len(params)
    for i in range(n):
        layer = params[f"dense_{i}"]
        x = x @ layer["kernel"] + layer["bias"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def error_rate(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits, axis=1) != labels)


def layer_index(params: dict) -> np.ndarray:
    """For every flat weight, the layer whose L2 coefficient it takes (-1: a bias, not penalized)."""
    marks = {
        name: {
            "kernel": np.full(np.shape(layer["kernel"]), int(name.split("_")[1]), np.int32),
            "bias": np.full(np.shape(layer["bias"]), -1, np.int32),
        }
        for name, layer in params.items()
    }
    # numpy leaves in ravel_pytree's order (tree_leaves), so it stays a constant under jit
    return np.concatenate([leaf.ravel() for leaf in jax.tree_util.tree_leaves(marks)])


class Losses(NamedTuple):
    """The problem's functions of the flat weights w (and λ = per-layer log L2)."""

    train: Callable[..., Any]  # L_train(w, λ)
    val: Callable[..., Any]  # CE_val(w)
    test: Callable[..., Any]  # CE_test(w)
    val_error: Callable[..., Any]
    test_error: Callable[..., Any]
    unravel: Callable[..., Any]


def make_losses(spec: Spec, data: Data, w0_tree: dict) -> Losses:
    """The losses over flat weights (``ravel_pytree`` of ``w0_tree``); traceable with ``data`` a tracer."""
    _, unravel = ravel_pytree(w0_tree)
    idx = jnp.asarray(layer_index(w0_tree))
    penalized = idx >= 0

    def train(w, log_l2):
        coef = jnp.where(penalized, jnp.exp(log_l2)[jnp.maximum(idx, 0)], 0.0)
        ce = cross_entropy(forward(unravel(w), data.x_train), data.y_train)
        return ce + 0.5 * jnp.sum(coef * w * w)

    def on(x, y, fn):
        return lambda w: fn(forward(unravel(w), x), y)

    return Losses(
        train,
        on(data.x_val, data.y_val, cross_entropy),
        on(data.x_test, data.y_test, cross_entropy),
        on(data.x_val, data.y_val, error_rate),
        on(data.x_test, data.y_test, error_rate),
        unravel,
    )


def to_hyper(spec: Spec, h: jax.Array) -> dm.Hyper:
    """h -> DrMAD's ``Hyper(λ, log α, γ = 0)`` (γ = 0: plain gradient descent)."""
    h = jnp.asarray(h)
    log_lr = h[spec.n_layers] if spec.tune_lr else jnp.asarray(spec.log_lr, h.dtype)
    return dm.Hyper(h[: spec.n_layers], log_lr, jnp.zeros((), h.dtype))


def from_hyper(spec: Spec, g: dm.Hyper) -> jax.Array:
    """DrMAD's hypergradient -> the gradient with respect to h (λ, then log α when tuned)."""
    parts = [g.h] + ([jnp.reshape(g.log_lr, (1,))] if spec.tune_lr else [])
    return jnp.concatenate(parts)


def train(spec: Spec, losses: Losses, w0: jax.Array, h: jax.Array) -> jax.Array:
    """w_T(h): T steps of gradient descent from w0."""
    return dm.train(losses.train, w0, to_hyper(spec, h), spec.T).w


def objective(spec: Spec, data: Data, w0_tree: dict, w0: jax.Array, h: jax.Array) -> jax.Array:
    """f(h) = CE_val(w_T(h)): what every method minimizes."""
    losses = make_losses(spec, data, w0_tree)
    return losses.val(train(spec, losses, w0, h))


def evaluate(spec: Spec, data: Data, w0_tree: dict, w0: jax.Array, h: jax.Array) -> dict:
    """Validation and test loss and error of the network trained with h (jit it)."""
    losses = make_losses(spec, data, w0_tree)
    w = train(spec, losses, w0, h)
    return {
        "val_loss": losses.val(w),
        "val_error": losses.val_error(w),
        "test_loss": losses.test(w),
        "test_error": losses.test_error(w),
    }


def project(spec: Spec, h: jax.Array) -> jax.Array:
    """h clipped to the search box (every method searches the same box)."""
    return jnp.clip(h, jnp.asarray(spec.low, h.dtype), jnp.asarray(spec.high, h.dtype))


def make_data(arrays: dict, n_train: int, dtype=np.float32) -> Data:
    """The ``data`` stage's splits as :class:`Data`; the first ``n_train`` training digits (full batch)."""

    def x(name, n=None):
        images = np.asarray(arrays[name][:n], dtype) / 255.0
        return jnp.asarray(images.reshape(len(images), -1))

    def y(name, n=None):
        return jnp.asarray(np.asarray(arrays[name][:n], np.int32))

    return Data(x("x_train", n_train), y("y_train", n_train), x("x_val"), y("y_val"), x("x_test"), y("y_test"))
