"""The HPO problem: an MLP on MNIST trained T full-batch steps, and what every method evaluates.

Inner problem (full batch, so every trajectory is a deterministic function of h, as the
reverse passes of Maclaurin et al. 2015 / DrMAD assume): a hyperparameter family
(:mod:`hyperlab.hpo.families`) maps h to an L2 coefficient per weight c(h) and a
learning rate per weight and step α_t(h); the inner run is the step map

    Φ(w, h, t) = w − α_t(h) ⊙ ∇_w L_train(w, h),    L_train = CE_train + ½ Σ c(h) w²,

T steps from the seed's initialization w0 (LeCun-normal kernels, zero biases), and the
outer objective is f(h) = CE_val(w_T(h)). The weights are a pytree
``{"dense_i": {"kernel", "bias"}}``; the methods see it flattened
(``jax.flatten_util.ravel_pytree``), because the reverse engine
(:mod:`hyperlab.bilevel.reverse`) works on one array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hyperlab.bilevel import reverse
from hyperlab.hpo.families import Family
from hyperlab.training.network import N_CLASSES, N_INPUTS


class Data(NamedTuple):
    """The splits as float arrays (n, d) and int labels (n,): a jit argument, never a constant."""

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array
    x_test: jax.Array
    y_test: jax.Array


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


class Inner(NamedTuple):
    """The inner problem of one family on one data set and network shape."""

    step: Callable  # Φ(w, h, t)
    train_loss: Callable  # L_train(w, h)
    val: Callable  # CE_val(w)
    scores: Callable  # w -> {val_loss, val_error, test_loss, test_error}


def inner(family: Family, data: Data, tree: dict) -> Inner:
    """The family's inner problem over flat weights (``data`` may be a tracer: it is a jit argument)."""
    _, unravel = ravel_pytree(tree)

    def ce(w, x, y):
        return cross_entropy(forward(unravel(w), x), y)

    def train_loss(w, h):
        return ce(w, data.x_train, data.y_train) + 0.5 * jnp.sum(family.l2(h) * w * w)

    def step(w, h, t):
        return w - family.lr(h, t) * jax.grad(train_loss)(w, h)

    def scores(w):
        val, test = forward(unravel(w), data.x_val), forward(unravel(w), data.x_test)
        return {
            "val_loss": cross_entropy(val, data.y_val),
            "val_error": error_rate(val, data.y_val),
            "test_loss": cross_entropy(test, data.y_test),
            "test_error": error_rate(test, data.y_test),
        }

    return Inner(step, train_loss, lambda w: ce(w, data.x_val, data.y_val), scores)


def network_sizes(hidden) -> tuple[int, ...]:
    """The MLP's layer sizes: the MNIST pixels, the ``hpo`` section's hidden widths, the classes."""
    return (N_INPUTS, *hidden, N_CLASSES)


def initial_weights(sizes, seed: int) -> tuple[dict, jax.Array]:
    """The seed's initialization, as the pytree and as the flat vector the methods work on."""
    tree = init_weights(sizes, jax.random.PRNGKey(seed))
    return tree, ravel_pytree(tree)[0]


def objective(family: Family, T: int) -> Callable:
    """f(h) = CE_val(w_T(h)) as ``(data, tree, w0, h) -> f`` (traceable): what every method minimizes."""

    def f(data, tree, w0, h):
        p = inner(family, data, tree)
        return p.val(reverse.train(p.step, w0, h, T))

    return f


def scores(family: Family, T: int) -> Callable:
    """``(data, tree, w0, h) -> {val_loss, val_error, test_loss, test_error}`` of the network trained with h."""

    def fn(data, tree, w0, h):
        p = inner(family, data, tree)
        return p.scores(reverse.train(p.step, w0, h, T))

    return fn


def project(family: Family, h: jax.Array) -> jax.Array:
    """h clipped to the family's box (every method searches the same box)."""
    return jnp.clip(h, jnp.asarray(family.low, h.dtype), jnp.asarray(family.high, h.dtype))


def make_data(arrays: dict, n_train: int, dtype=np.float32) -> Data:
    """The ``data`` stage's splits as :class:`Data`; the first ``n_train`` training digits (full batch)."""

    def x(name, n=None):
        images = np.asarray(arrays[name][:n], dtype) / 255.0
        return jnp.asarray(images.reshape(len(images), -1))

    def y(name, n=None):
        return jnp.asarray(np.asarray(arrays[name][:n], np.int32))

    return Data(x("x_train", n_train), y("y_train", n_train), x("x_val"), y("y_val"), x("x_test"), y("y_test"))
