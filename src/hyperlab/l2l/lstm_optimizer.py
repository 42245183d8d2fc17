"""The coordinatewise LSTM optimizer m(grad; phi) of Andrychowicz et al. (2016).

One small two-layer LSTM (20 units per layer) is shared by every coordinate of
the optimizee; each coordinate keeps its own LSTM state (Sec. 2.1, Fig. 3).
Its input is the preprocessed gradient of that coordinate (Appendix A):

    g  ->  (log|g| / p, sign g)   if |g| >= e^-p
           (-1, e^p g)            otherwise,

and its output, times ``scale`` (0.1 on MNIST), is the update:
theta_{t+1} = theta_t + g_t  (Eq. 1, with g_t = scale * m(...)).

:func:`lstm_optimizer` wraps it as an ``optax.GradientTransformation``: its
state holds the LSTM state of every coordinate, so it drops into an ordinary
optax loop over any pytree of parameters. Internally the pytree is raveled into
one vector so that the whole optimizee is a single batched LSTM call (one
matmul per layer instead of one per leaf); the state therefore has the same
structure for every parameter pytree and across steps.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree


class LSTMConfig(NamedTuple):
    """Hyperparameters of the learned optimizer (paper values as defaults)."""
    hidden: int = 20
    layers: int = 2
    p: float = 10.0
    scale: float = 0.1


def preprocess(g: jax.Array, p: float = 10.0) -> jax.Array:
    """Appendix A gradient preprocessing: ``g (...,) -> (..., 2)``.

    Large gradients are encoded by magnitude (log|g|/p) and sign, small ones
    (|g| < e^-p) by (-1, e^p g), which is continuous with the first branch's
    first component at |g| = e^-p. The log argument is floored so the unused
    branch never produces -inf or NaN.
    """
    big = jnp.abs(g) >= jnp.exp(-p)
    log_mag = jnp.log(jnp.maximum(jnp.abs(g), jnp.exp(-p))) / p
    first = jnp.where(big, log_mag, -1.0)
    second = jnp.where(big, jnp.sign(g), jnp.exp(p) * g)
    return jnp.stack([first, second], axis=-1)


class CoordinatewiseLSTM(nn.Module):
    """Stacked LSTM applied to a batch of coordinates ``(n, 2) -> (n,)``."""
    hidden: int = 20
    layers: int = 2

    @nn.compact
    def __call__(self, carry, x):
        new_carry = []
        h = x
        for i in range(self.layers):
            c, h = nn.OptimizedLSTMCell(self.hidden, name=f"lstm{i}")(carry[i], h)
            new_carry.append(c)
        # A small output init: the untrained optimizer takes small steps instead
        # of a random walk that would first have to be unlearned.
        out = nn.Dense(1, kernel_init=nn.initializers.normal(0.01), name="out")(h)
        return tuple(new_carry), out[..., 0]


def initial_carry(n: int, cfg: LSTMConfig):
    """Zero LSTM state for ``n`` coordinates: ``layers`` pairs (c, h) of shape (n, hidden)."""
    z = jnp.zeros((n, cfg.hidden))
    return tuple((z, z) for _ in range(cfg.layers))


def init_lstm_params(key: jax.Array, cfg: LSTMConfig = LSTMConfig()):
    """LSTM weights phi (shared by all coordinates)."""
    net = CoordinatewiseLSTM(cfg.hidden, cfg.layers)
    return net.init(key, initial_carry(1, cfg), jnp.zeros((1, 2)))["params"]


def lstm_step(lstm_params, g: jax.Array, carry, cfg: LSTMConfig = LSTMConfig()):
    """One step on a flat gradient vector ``g (n,)``: ``(update (n,), new carry)``."""
    net = CoordinatewiseLSTM(cfg.hidden, cfg.layers)
    carry, out = net.apply({"params": lstm_params}, carry, preprocess(g, cfg.p))
    return cfg.scale * out, carry


class LSTMOptState(NamedTuple):
    """Per-coordinate LSTM state, over the raveled parameter vector."""
    carry: tuple


def lstm_optimizer(lstm_params, cfg: LSTMConfig = LSTMConfig()) -> optax.GradientTransformation:
    """The learned optimizer as an optax transformation.

    ``update`` returns the step to *add* (``optax.apply_updates``), like any
    optax optimizer. ``lstm_params`` may be traced: meta-training builds the
    transformation inside the function it differentiates.
    """

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        return LSTMOptState(initial_carry(flat.shape[0], cfg))

    def update_fn(updates, state, params=None):
        del params
        flat, unravel = ravel_pytree(updates)
        step, carry = lstm_step(lstm_params, flat, state.carry, cfg)
        return unravel(step.astype(flat.dtype)), LSTMOptState(carry)

    return optax.GradientTransformation(init_fn, update_fn)


def weights_to_arrays(lstm_params, cfg: LSTMConfig) -> dict:
    """Flat ``{"params/lstm0/hi/kernel": array, ..., "config/hidden": array}`` for an ``.npz``."""
    from flax.traverse_util import flatten_dict
    import numpy as np
    out = {f"params/{k}": np.asarray(v) for k, v in flatten_dict(lstm_params, sep="/").items()}
    out.update({f"config/{k}": np.asarray(v) for k, v in cfg._asdict().items()})
    return out


def weights_from_arrays(arrays) -> tuple[dict, LSTMConfig]:
    """Inverse of :func:`weights_to_arrays` (e.g. from ``np.load``)."""
    from flax.traverse_util import unflatten_dict
    params = unflatten_dict({k[len("params/"):]: jnp.asarray(arrays[k]) for k in arrays
                             if k.startswith("params/")}, sep="/")
    cfg = LSTMConfig(*(type(d)(arrays[f"config/{f}"].item())
                       for f, d in zip(LSTMConfig._fields, LSTMConfig._field_defaults.values())))
    return params, cfg
