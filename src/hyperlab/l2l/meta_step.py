"""One meta-step: the meta-gradient over a batch of optimizees, applied by the meta-optimizer.

Meta-gradients are clipped by global norm, and an update whose loss or
gradient is not finite is skipped (:func:`apply_meta_gradient`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hyperlab.l2l.meta_loss import LossFn, UnrollSettings, unroll
from hyperlab.l2l.names import META_LR_SCHEDULES


class MetaState(NamedTuple):
    phi: object  # the LSTM's weights
    meta_opt_state: object


def apply_meta_gradient(meta: MetaState, meta_opt: optax.GradientTransformation, loss, grads):
    """One meta-optimizer update: ``(meta state, meta-gradient norm, ok)``.

    An update whose loss or meta-gradient is not finite is skipped: the
    previous weights and Adam moments are kept (``ok`` False).
    """
    gnorm = optax.tree.norm(grads)
    updates, new_opt_state = meta_opt.update(grads, meta.meta_opt_state, meta.phi)
    new = MetaState(optax.apply_updates(meta.phi, updates), new_opt_state)
    ok = jnp.isfinite(loss) & jnp.isfinite(gnorm)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, meta), gnorm, ok


def make_meta_step(
    loss_fn: LossFn, meta_opt: optax.GradientTransformation, settings: UnrollSettings, over_seeds: bool = False
):
    """Jitted ``(meta_state, theta, opt_state, keys) -> (meta_state, theta, opt_state, loss, gnorm, ok)``.

    ``theta``/``opt_state``/``keys`` carry a leading axis of optimizees, each
    unrolled by :func:`.meta_loss.unroll` with ``settings``. The
    meta-gradient of the mean meta-loss over the optimizees is the mean of
    their meta-gradients, each computed on its own, one optimizee after the
    other (``lax.map``). One optimizee's per-coordinate LSTM state and gates
    (16k coordinates x 80 gates: 5 MB an array) stay in cache; vmapped
    together, several optimizees made the memory-bound backward pass slower
    than running them in turn (``bench/l2l_speed.py``).

    ``over_seeds=True``: the same over a leading axis of independent
    meta-training seeds, in one program. Every argument and result carries the
    seed axis in front (the LSTM weights and meta-optimizer state too): the
    seeds share nothing but the compiled program, so each seed's trajectory is
    the one it would have alone. They run in turn (``lax.map``), not vmapped,
    for the same reason.
    """

    def one(phi, args):
        theta, opt_state, keys = args
        return jax.value_and_grad(
            lambda phi: unroll(phi, theta, opt_state, keys, loss_fn, settings),
            has_aux=True,
        )(phi)

    def meta_step(meta: MetaState, theta, opt_state, keys):
        (losses, (theta, opt_state)), grads = jax.lax.map(partial(one, meta.phi), (theta, opt_state, keys))
        loss = jnp.mean(losses)
        grads = jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), grads)
        meta, gnorm, ok = apply_meta_gradient(meta, meta_opt, loss, grads)
        return meta, theta, opt_state, loss, gnorm, ok

    if over_seeds:
        return jax.jit(lambda *args: jax.lax.map(lambda a: meta_step(*a), args))
    return jax.jit(meta_step)


def meta_optimizer(
    meta_lr: float, clip_norm: float | None, meta_steps: int, schedule: str
) -> optax.GradientTransformation:
    """Adam on meta-gradients clipped to global norm ``clip_norm`` (None: unclipped, as the released code);
    ``schedule="cosine"`` decays the rate from ``meta_lr`` to 0 over ``meta_steps`` (half a cosine), so the
    last checkpoints move less."""
    if schedule not in META_LR_SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(META_LR_SCHEDULES)}")
    lr = optax.cosine_decay_schedule(meta_lr, meta_steps) if schedule == "cosine" else meta_lr
    adam = optax.adam(lr)
    return adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)
