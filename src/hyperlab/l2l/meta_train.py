"""Meta-training of the LSTM optimizer by truncated BPTT (Andrychowicz et al. 2016, Sec. 2, Eq. 3).

The meta-loss of one unroll is the mean optimizee loss over its T = ``unroll``
steps, L(phi) = (1/T) sum_{t=1..T} f(theta_t), where theta_t is produced by the
LSTM from the previous gradients. A run of ``n_steps`` optimizee steps is cut
into n_steps / T unrolls; the optimizee parameters and LSTM state are carried
from one unroll to the next (gradients do not flow across the cut) and both are
reset to a fresh optimizee and zero LSTM state when a run ends -- forgetting
this reset is a known reproduction pitfall.

As in the paper, second derivatives are dropped: the optimizee gradient
nabla f(theta_t) enters the LSTM as a constant (``stop_gradient``), so the
meta-gradient flows only through theta_t in f(theta_t) and through the LSTM.

Several optimizees per meta-step (``meta_batch``, vmapped) average away much of
the meta-gradient noise. Meta-gradients are clipped by global norm, and an
update whose loss or gradient is not finite is skipped (and the runs reset).
The step-T loss of a greedy short-unroll objective can get worse with long
meta-training while early steps keep improving, so the weights kept are those
with the lowest final-step loss on the validation split, not the last ones.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.l2l import optimizee
from hyperlab.l2l.evaluate import run_many
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_lstm_params, lstm_optimizer

log = logging.getLogger(__name__)

#: ``loss_fn(params, key) -> scalar``: the optimizee loss on the minibatch drawn with ``key``.
LossFn = Callable[[object, jax.Array], jax.Array]


def unroll(lstm_params, params, opt_state, keys: jax.Array, loss_fn: LossFn,
           cfg: LSTMConfig = LSTMConfig(), first_order: bool = True, remat: bool = True):
    """One truncated unroll of ``len(keys) - 1`` optimizee steps.

    Returns ``(meta_loss, (params, opt_state))``: the mean of f(theta_1..theta_T)
    (each on its own minibatch) and the state to carry into the next unroll.
    ``first_order=False`` keeps the second derivatives (only for tests).
    """
    opt = lstm_optimizer(lstm_params, cfg)

    def step(carry, key):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        if first_order:
            grads = jax.lax.stop_gradient(grads)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    # Rematerialize each step in the backward pass: storing every LSTM gate
    # activation of every coordinate makes the backward memory-bound (measured
    # 2x slower on CPU than recomputing them).
    body = jax.checkpoint(step) if remat else step
    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), keys[:-1])
    # losses[0] is f(theta_0), a constant of phi: the meta-loss is over theta_1..theta_T.
    final = loss_fn(params, keys[-1])
    meta_loss = (jnp.sum(losses[1:]) + final) / (keys.shape[0] - 1)
    return meta_loss, (params, opt_state)


class MetaState(NamedTuple):
    lstm_params: object
    meta_opt_state: object


def make_meta_step(loss_fn: LossFn, meta_opt: optax.GradientTransformation, cfg: LSTMConfig,
                   remat: bool = True):
    """Jitted ``(meta_state, params, opt_state, keys) -> (meta_state, params, opt_state, loss, gnorm, ok)``.

    ``params``/``opt_state``/``keys`` carry a leading axis of optimizees.
    """

    def batch_loss(phi, params, opt_state, keys):
        losses, carry = jax.vmap(lambda p, s, k: unroll(phi, p, s, k, loss_fn, cfg, remat=remat))(
            params, opt_state, keys)
        return jnp.mean(losses), carry

    @jax.jit
    def meta_step(meta: MetaState, params, opt_state, keys):
        (loss, (params, opt_state)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
            meta.lstm_params, params, opt_state, keys)
        gnorm = optax.tree.norm(grads)
        updates, new_opt_state = meta_opt.update(grads, meta.meta_opt_state, meta.lstm_params)
        new = MetaState(optax.apply_updates(meta.lstm_params, updates), new_opt_state)
        ok = jnp.isfinite(loss) & jnp.isfinite(gnorm)
        # Non-finite guard: keep the previous weights and Adam moments.
        meta = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, meta)
        return meta, params, opt_state, loss, gnorm, ok

    return meta_step


def mnist_loss_fn(x: jax.Array, y: jax.Array, spec: optimizee.MLPSpec, batch_size: int) -> LossFn:
    def loss_fn(params, key):
        xb, yb = optimizee.minibatch(key, x, y, batch_size)
        return optimizee.loss(params, xb, yb, spec.activation)
    return loss_fn


class MetaTrainResult(NamedTuple):
    best_params: object
    best_step: int          # meta-step of the kept weights (0 = untrained)
    best_val: float         # their mean validation loss at the final optimizee step
    history: dict           # per meta-step: meta_loss, grad_norm, skipped; per check: val_loss
    seconds: float
    n_skipped: int


def meta_train(key: jax.Array, init_fn: Callable[[jax.Array], object], loss_fn: LossFn,
               validate: Callable[[object], float], *, cfg: LSTMConfig = LSTMConfig(),
               n_steps: int = 100, unroll_len: int = 20, meta_steps: int = 200, meta_batch: int = 2,
               meta_lr: float = 3e-3, clip_norm: float = 1.0, val_every: int = 10,
               progress=lambda it, **kw: it) -> MetaTrainResult:
    """Meta-train the LSTM on optimizees from ``init_fn(key)`` with ``loss_fn``.

    ``validate(lstm_params) -> float`` (lower is better) is called at meta-step
    0 and every ``val_every`` meta-steps; the best weights are returned.
    """
    if n_steps % unroll_len:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of unroll ({unroll_len})")
    unrolls_per_run = n_steps // unroll_len
    k_phi, k_loop = jax.random.split(key)
    meta_opt = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(meta_lr))
    phi = init_lstm_params(k_phi, cfg)
    meta = MetaState(phi, meta_opt.init(phi))
    meta_step = make_meta_step(loss_fn, meta_opt, cfg)
    template = lstm_optimizer(phi, cfg)

    @jax.jit
    def fresh(key):
        params = jax.vmap(init_fn)(jax.random.split(key, meta_batch))
        return params, jax.vmap(template.init)(params)

    t0 = time.perf_counter()
    best = (float(validate(phi)), 0, phi)
    history = {"meta_loss": [], "grad_norm": [], "skipped": [], "val_step": [0], "val_loss": [best[0]]}
    n_skipped = 0
    params = opt_state = None
    for i in progress(range(meta_steps), desc="meta-train"):
        k_loop, k_fresh, k_unroll = jax.random.split(k_loop, 3)
        if i % unrolls_per_run == 0 or params is None:
            params, opt_state = fresh(k_fresh)
        keys = jax.random.split(k_unroll, meta_batch * (unroll_len + 1)).reshape(meta_batch, unroll_len + 1)
        meta, params, opt_state, loss, gnorm, ok = meta_step(meta, params, opt_state, keys)
        ok = bool(ok)
        history["meta_loss"].append(float(loss))
        history["grad_norm"].append(float(gnorm))
        history["skipped"].append(not ok)
        if not ok:
            n_skipped += 1
            params = None  # the runs blew up: start fresh optimizees next meta-step
            log.warning("meta-step %d: non-finite loss or meta-gradient; update skipped", i + 1)
        if (i + 1) % val_every == 0 or i + 1 == meta_steps:
            val = float(validate(meta.lstm_params))
            history["val_step"].append(i + 1)
            history["val_loss"].append(val)
            if np.isfinite(val) and val < best[0]:
                best = (val, i + 1, meta.lstm_params)
            log.info("meta-step %d: meta-loss %.4f |grad| %.3g val %.4f (best %.4f @ %d)",
                     i + 1, float(loss), float(gnorm), val, best[0], best[1])
    return MetaTrainResult(best[2], best[1], best[0], history, time.perf_counter() - t0, n_skipped)


def mnist_validator(x_val: jax.Array, y_val: jax.Array, spec: optimizee.MLPSpec, keys: jax.Array,
                    n_steps: int, batch_size: int, cfg: LSTMConfig) -> Callable[[object], float]:
    """Mean full-val-split loss at the last step over fixed inits (the same for every checkpoint)."""
    def validate(phi) -> float:
        traj = run_many("lstm", phi, keys, x_val, y_val, spec, n_steps, batch_size, cfg, record_full=False)
        final = np.asarray(traj.loss[:, -1])
        return float(final.mean()) if np.isfinite(final).all() else float("inf")
    return validate
