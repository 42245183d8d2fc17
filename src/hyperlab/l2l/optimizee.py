"""The optimizee of the MNIST experiment (Andrychowicz et al. 2016, Sec. 3.2).

An MLP 784-20-10 with sigmoid hidden units and a softmax cross-entropy loss,
trained on minibatches of 128. The generalization variants of the paper's
Fig. 5 change the hidden widths (40 units), the depth (two hidden layers) or
the activation (ReLU). Weights and biases start from N(0, 0.01^2), the
initializer of the authors' released code.

Its weights theta (the paper's symbol) are a tuple of ``{"w", "b"}`` dicts (one
per layer): a plain pytree, so any optax transformation -- including the
learned one -- applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hyperlab.l2l.names import ACTIVATIONS as ACTIVATION_NAMES
from hyperlab.training.network import N_CLASSES, N_INPUTS

#: ``l2l.activation`` -> the function: each name is that of a ``jax.nn`` function.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {name: getattr(jax.nn, name) for name in ACTIVATION_NAMES}

INIT_STD = 0.01


class MLPSpec(NamedTuple):
    """Architecture of one optimizee: hidden widths and activation name."""

    hidden: tuple[int, ...] = (20,)
    activation: str = "sigmoid"
    in_dim: int = N_INPUTS
    n_classes: int = N_CLASSES


def init_theta(key: jax.Array, spec: MLPSpec) -> tuple[dict[str, jax.Array], ...]:
    """Fresh weights theta_0, every entry N(0, INIT_STD^2)."""
    sizes = (spec.in_dim, *spec.hidden, spec.n_classes)
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    return tuple(
        {
            "w": INIT_STD * jax.random.normal(keys[2 * i], (n_in, n_out)),
            "b": INIT_STD * jax.random.normal(keys[2 * i + 1], (n_out,)),
        }
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
    )


def logits(theta, x: jax.Array, activation: str) -> jax.Array:
    act = ACTIVATIONS[activation]
    h = x
    for layer in theta[:-1]:
        h = act(h @ layer["w"] + layer["b"])
    return h @ theta[-1]["w"] + theta[-1]["b"]


def loss(theta, x: jax.Array, y: jax.Array, activation: str) -> jax.Array:
    """Mean softmax cross-entropy of labels ``y`` (ints 0..9)."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits(theta, x, activation), y))


def minibatch(key: jax.Array, x: jax.Array, y: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """A minibatch drawn uniformly with replacement (cheap and jit-friendly)."""
    idx = jax.random.randint(key, (batch_size,), 0, x.shape[0])
    return x[idx], y[idx]


def n_coordinates(spec: MLPSpec) -> int:
    """The number of coordinates of theta: each keeps its own LSTM state under the learned optimizer."""
    sizes = (spec.in_dim, *spec.hidden, spec.n_classes)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
