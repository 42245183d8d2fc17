"""The coordinatewise LSTM optimizer m(grad; phi) of Andrychowicz et al. (2016).

One small two-layer LSTM (20 units per layer) is shared by every coordinate of
the optimizee; each coordinate keeps its own LSTM state (Sec. 2.1, Fig. 3).
Its input is the preprocessed gradient of that coordinate, by Appendix A:

    g  ->  (log|g| / p, sign g)   if |g| >= e^-p
           (-1, e^p g)            otherwise,

or by the authors' released code (LogAndSign, k = 5):

    g  ->  (max(log(|g| + eps) / k, -1), clip(e^k g, -1, 1)),   eps = float32's 2^-23,

and its output, times ``scale`` (0.1 in the appendix, 0.01 in the released code), is the update:
theta_{t+1} = theta_t + g_t  (Eq. 1, with g_t = scale * m(...)).

:func:`lstm_optimizer` wraps it as an ``optax.GradientTransformation``: its
state holds the LSTM state of every coordinate, so it drops into an ordinary
optax loop over any pytree of parameters. Internally the pytree is raveled into
one vector so that the whole optimizee is a single batched LSTM call (one
matmul per layer instead of one per leaf); the state therefore has the same
structure for every parameter pytree and across steps.

The weights are those of the Flax module :class:`CoordinatewiseLSTM` (its
names and initializers), but a step runs :func:`lstm_step`, the same
arithmetic with coordinates on the *last* axis: the state is ``(hidden, n)``,
each gate is a contiguous block of rows, the two-wide input layer is two
broadcast multiply-adds rather than a matmul with two inner terms, and the
backward pass of a layer (:func:`lstm_cell`) is written out. The meta-step's
backward pass is dominated by these gate arrays; the layout and the written-out
backward together made it 1.55x faster on CPU (``bench/l2l_speed.py``), and a
test pins values and gradients to the Flax cell.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from hyperlab.l2l.names import PREPROCESSINGS


class LSTMConfig(NamedTuple):
    """Hyperparameters of the learned optimizer (the paper appendix's values as defaults)."""

    hidden: int = 20
    layers: int = 2
    p: float = 10.0  # p of Appendix A, or k of LogAndSign
    scale: float = 0.1
    preprocess: str = "appendix"  # or "log_and_sign": :func:`preprocess_gradient`


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


#: Float32's machine epsilon, the released code's ``np.finfo(float32).eps`` inside LogAndSign's log.
LOG_AND_SIGN_EPS = 2.0**-23


def log_and_sign(g: jax.Array, k: float = 5.0) -> jax.Array:
    """The released code's LogAndSign preprocessing: ``g (...,) -> (..., 2)``.

    ``(max(log(|g| + eps) / k, -1), clip(e^k g, -1, 1))``: the log of the
    magnitude, floored at -1 (|g| below e^-k), and a sign that is linear in g
    below e^-k. Continuous in g, unlike :func:`preprocess`'s sign branch.
    """
    first = jnp.maximum(jnp.log(jnp.abs(g) + LOG_AND_SIGN_EPS) / k, -1.0)
    second = jnp.clip(jnp.exp(k) * g, -1.0, 1.0)
    return jnp.stack([first, second], axis=-1)


def preprocess_gradient(g: jax.Array, cfg: LSTMConfig) -> jax.Array:
    """The LSTM input of every coordinate, ``(..., 2)``, by ``cfg.preprocess`` with constant ``cfg.p``."""
    if cfg.preprocess == "appendix":
        return preprocess(g, cfg.p)
    if cfg.preprocess == "log_and_sign":
        return log_and_sign(g, cfg.p)
    raise ValueError(f"unknown preprocessing {cfg.preprocess!r}; allowed: {', '.join(PREPROCESSINGS)}")


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
    """Zero LSTM state for ``n`` coordinates: ``layers`` pairs (c, h) of shape (hidden, n)."""
    z = jnp.zeros((cfg.hidden, n))
    return tuple((z, z) for _ in range(cfg.layers))


def init_phi(key: jax.Array, cfg: LSTMConfig = LSTMConfig()):
    """LSTM weights phi (shared by all coordinates)."""
    net = CoordinatewiseLSTM(cfg.hidden, cfg.layers)
    z = jnp.zeros((1, cfg.hidden))  # one coordinate, in the Flax cell's (n, hidden) layout
    return net.init(key, tuple((z, z) for _ in range(cfg.layers)), jnp.zeros((1, 2)))["params"]


_GATES = ("i", "f", "g", "o")  # Flax's OptimizedLSTMCell: input, forget, cell, output


def _layer_weights(layer) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A Flax LSTM cell's eight kernels as ``(W_in (4h, in), W_h (4h, h), b (4h, 1))``, gates stacked i, f, g, o."""
    w_in = jnp.concatenate([layer[f"i{k}"]["kernel"] for k in _GATES], axis=-1).T
    w_h = jnp.concatenate([layer[f"h{k}"]["kernel"] for k in _GATES], axis=-1).T
    b = jnp.concatenate([layer[f"h{k}"]["bias"] for k in _GATES])[:, None]
    return w_in, w_h, b


def _gates(w_in, w_h, b, x, h):
    """Gate activations ``(i, f, g, o)``, each (hidden, n), of z = W_h h + W_in x + b."""
    z = w_h @ h + b
    # The first layer's input is two features wide: two multiply-adds fuse with the gates.
    z = z + (w_in[:, :1] * x[:1] + w_in[:, 1:] * x[1:] if x.shape[0] == 2 else w_in @ x)
    z_i, z_f, z_g, z_o = jnp.split(z, 4)
    return jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_g), jax.nn.sigmoid(z_o)


@jax.custom_vjp
def lstm_cell(w_in, w_h, b, x, c, h):
    """One LSTM layer on every coordinate: ``(c', h')`` with c' = f c + i g, h' = o tanh(c').

    Its backward pass is written out (:func:`_lstm_cell_bwd`): one fused
    elementwise pass to the four gate pre-activations, then the matmuls.
    JAX's own transpose of the same arithmetic took 1.2x longer on CPU
    (``bench/l2l_speed.py``); a test checks both against Flax's cell.
    """
    return _lstm_cell_fwd(w_in, w_h, b, x, c, h)[0]


def _lstm_cell_fwd(w_in, w_h, b, x, c, h):
    i, f, g, o = _gates(w_in, w_h, b, x, h)
    c_new = f * c + i * g
    tanh_c = jnp.tanh(c_new)
    return (c_new, o * tanh_c), (w_in, w_h, x, c, h, i, f, g, o, tanh_c)


def _lstm_cell_bwd(res, cotangents):
    """Cotangents of (W_in, W_h, b, x, c, h) from those of (c', h'), with sigma' = s (1 - s), tanh' = 1 - t^2:
    dc'_total = dc' + dh' o (1 - tanh^2 c'), dz = (dc'_total g i(1-i), dc'_total c f(1-f),
    dc'_total i (1-g^2), dh' tanh(c') o(1-o)); then dW_in = dz x^T, dW_h = dz h^T, db = sum_n dz,
    dx = W_in^T dz, dh = W_h^T dz, dc = dc'_total f."""
    w_in, w_h, x, c, h, i, f, g, o, tanh_c = res
    dc_new, dh_new = cotangents
    dc_total = dc_new + dh_new * o * (1 - tanh_c * tanh_c)
    dz = jnp.concatenate(
        [
            dc_total * g * i * (1 - i),
            dc_total * c * f * (1 - f),
            dc_total * i * (1 - g * g),
            dh_new * tanh_c * o * (1 - o),
        ]
    )
    return dz @ x.T, dz @ h.T, jnp.sum(dz, axis=1, keepdims=True), w_in.T @ dz, dc_total * f, w_h.T @ dz


lstm_cell.defvjp(_lstm_cell_fwd, _lstm_cell_bwd)


def lstm_step(phi, g: jax.Array, carry, cfg: LSTMConfig = LSTMConfig()):
    """One step on a flat gradient vector ``g (n,)``: ``(update (n,), new carry)``.

    :class:`CoordinatewiseLSTM`'s arithmetic with coordinates on the last axis
    (carry: ``layers`` pairs (c, h) of shape (hidden, n)).
    """
    x = preprocess_gradient(g, cfg).T  # (2, n)
    new_carry = []
    for i, (c, h) in enumerate(carry):
        c, x = lstm_cell(*_layer_weights(phi[f"lstm{i}"]), x, c, h)
        new_carry.append((c, x))
    out = phi["out"]["kernel"][:, 0] @ x + phi["out"]["bias"][0]
    return cfg.scale * out, tuple(new_carry)


class LSTMOptState(NamedTuple):
    """Per-coordinate LSTM state, over the raveled parameter vector."""

    carry: tuple


def lstm_optimizer(phi, cfg: LSTMConfig = LSTMConfig()) -> optax.GradientTransformation:
    """The learned optimizer with LSTM weights ``phi`` as an optax transformation.

    ``update`` returns the step to *add* (``optax.apply_updates``), like any
    optax optimizer. ``phi`` may be traced: meta-training builds the
    transformation inside the function it differentiates.
    """

    def init_fn(weights):  # GradientTransformation.init / update, called positionally: the optimizee's weights
        flat, _ = ravel_pytree(weights)
        return LSTMOptState(initial_carry(flat.shape[0], cfg))

    def update_fn(updates, state, weights=None):
        del weights
        flat, unravel = ravel_pytree(updates)
        step, carry = lstm_step(phi, flat, state.carry, cfg)
        return unravel(step.astype(flat.dtype)), LSTMOptState(carry)

    return optax.GradientTransformation(init_fn, update_fn)


def weights_to_arrays(phi, cfg: LSTMConfig) -> dict:
    """Flat ``{"params/lstm0/hi/kernel": array, ..., "config/hidden": array}`` for an ``.npz``.

    The ``params/`` prefix is the file format's (Flax's name of the weights collection), kept so that the
    committed ``data/l2l/lstm.npz`` reads back.
    """
    import numpy as np
    from flax.traverse_util import flatten_dict

    out = {f"params/{k}": np.asarray(v) for k, v in flatten_dict(phi, sep="/").items()}
    out.update({f"config/{k}": np.asarray(v) for k, v in cfg._asdict().items()})
    return out


def weights_from_arrays(arrays) -> tuple[dict, LSTMConfig]:
    """Inverse of :func:`weights_to_arrays` (e.g. from ``np.load``)."""
    from flax.traverse_util import unflatten_dict

    phi = unflatten_dict(
        {k[len("params/") :]: jnp.asarray(arrays[k]) for k in arrays if k.startswith("params/")}, sep="/"
    )
    cfg = LSTMConfig(
        *(
            type(d)(arrays[f"config/{f}"].item())
            for f, d in zip(LSTMConfig._fields, LSTMConfig._field_defaults.values())
        )
    )
    return phi, cfg
