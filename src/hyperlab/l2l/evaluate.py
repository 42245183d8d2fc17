"""Optimizee runs under any optimizer, with per-step diagnostics.

Every optimizer -- the four hand-designed baselines and the learned LSTM -- is
named by a string plus one hyperparameter pytree (a learning rate, or the LSTM
weights), so a single jitted, ``vmap``-ed runner serves them all and the same
compiled code is reused across checkpoints and learning rates.

Per run and step t the runner records the loss of theta_t on the whole split
being optimized (forward only, every few steps), the norm of the minibatch gradient the
optimizer received, and the global norm of theta_t -- the quantities asked for
by the assignment (gradient norm and parameter norm along the optimization).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.l2l import optimizee
from hyperlab.l2l.lstm_optimizer import LSTMConfig, lstm_optimizer

BASELINES = ("sgd", "adam", "rmsprop", "nag")
OPTIMIZERS = (*BASELINES, "lstm")


def make_optimizer(name: str, hparam, cfg: LSTMConfig = LSTMConfig()) -> optax.GradientTransformation:
    """``hparam`` is the learning rate for a baseline, the LSTM weights for ``"lstm"``,
    and ``(index into BASELINES, learning rate)`` for ``"baseline"`` (:func:`baseline_switch`).

    NAG is Nesterov momentum 0.9 (as in the paper's baseline set); RMSprop uses
    decay 0.9, the optax default.
    """
    if name == "baseline":
        return baseline_switch(*hparam)
    if name == "sgd":
        return optax.sgd(hparam)
    if name == "adam":
        return optax.adam(hparam)
    if name == "rmsprop":
        return optax.rmsprop(hparam)
    if name == "nag":
        return optax.sgd(hparam, momentum=0.9, nesterov=True)
    if name == "lstm":
        return lstm_optimizer(hparam, cfg)
    raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def baseline_switch(index: jax.Array, lr: jax.Array) -> optax.GradientTransformation:
    """The baseline ``BASELINES[index]`` with a traced index.

    All four run side by side and the chosen one's update is applied, so one
    compiled program serves every baseline and learning rate (XLA compilation,
    not the arithmetic, dominated the CPU time of per-baseline programs; the
    three unused elementwise updates are negligible next to the optimizee's
    gradient).
    """
    opts = [make_optimizer(name, lr) for name in BASELINES]

    def init_fn(weights):  # GradientTransformation.init / update, called positionally: the optimizee's weights
        return tuple(opt.init(weights) for opt in opts)

    def update_fn(updates, state, weights=None):
        outs = [opt.update(updates, s, weights) for opt, s in zip(opts, state)]
        chosen = jax.tree_util.tree_map(lambda *u: jnp.stack(u)[index], *(u for u, _ in outs))
        return chosen, tuple(s for _, s in outs)

    return optax.GradientTransformation(init_fn, update_fn)


class Trajectory(NamedTuple):
    """Per-step diagnostics; leading axis runs when batched."""

    loss: jax.Array  # (n_steps // every + 1,) full-split loss of theta_0, theta_every, .., theta_T
    batch_loss: jax.Array  # (n_steps,) minibatch loss seen at step t
    grad_norm: jax.Array  # (n_steps,) global norm of the minibatch gradient at step t
    param_norm: jax.Array  # (n_steps + 1,) global norm of theta_0 .. theta_T (curves.csv: param_norm_*)


class OptimizeeRun(NamedTuple):
    """What one optimizee run is (:func:`run_one`): its network, length and minibatch, and what it records.

    Hashable, so :func:`run_grid` takes it as a static argument: one compiled
    program per value, reused across checkpoints, learning rates and seeds.
    """

    spec: optimizee.MLPSpec
    n_steps: int
    batch_size: int
    every: int = 1  # the whole-split loss every this many steps (must divide n_steps)
    record_full: bool = True  # False: the whole-split loss at the last step only (``loss[-1]``)

    def final_only(self) -> OptimizeeRun:
        """The same run recording only what a final loss needs: cheaper, the same last value."""
        return self._replace(every=1, record_full=False)


def run_one(name: str, hparam, key: jax.Array, x: jax.Array, y: jax.Array, run: OptimizeeRun, cfg: LSTMConfig):
    """One optimizee from a fresh init (``key``) trained ``run.n_steps`` on minibatches of ``(x, y)``:
    its :class:`Trajectory`.

    The whole-split loss costs more than a minibatch step, so it is recorded
    every ``run.every`` steps by a scan over chunks of steps;
    ``run.record_full=False`` records it only at the end.
    """
    opt = make_optimizer(name, hparam, cfg)
    k_init, k_data = jax.random.split(key)
    theta = optimizee.init_theta(k_init, run.spec)
    full_loss = partial(optimizee.loss, x=x, y=y, activation=run.spec.activation)

    def step(carry, k):
        theta, state = carry
        xb, yb = optimizee.minibatch(k, x, y, run.batch_size)
        loss, grads = jax.value_and_grad(optimizee.loss)(theta, xb, yb, run.spec.activation)
        updates, state = opt.update(grads, state, theta)
        out = (loss, optax.tree.norm(grads), optax.tree.norm(theta))
        return (optax.apply_updates(theta, updates), state), out

    def chunk(carry, keys):
        full = full_loss(carry[0]) if run.record_full else jnp.nan
        carry, out = jax.lax.scan(step, carry, keys)
        return carry, (full, *out)

    if run.n_steps % run.every:
        raise ValueError(f"every ({run.every}) must divide n_steps ({run.n_steps})")
    keys = jax.random.split(k_data, run.n_steps).reshape(run.n_steps // run.every, run.every)
    (theta, _), (full, loss, gnorm, pnorm) = jax.lax.scan(chunk, (theta, opt.init(theta)), keys)
    full = jnp.append(full, full_loss(theta))
    pnorm = jnp.append(pnorm.reshape(-1), optax.tree.norm(theta))
    return Trajectory(full, loss.reshape(-1), gnorm.reshape(-1), pnorm)


#: Runs vmapped together by an LSTM evaluation (:func:`run_grid`): one at a time. The LSTM's per-coordinate
#: state and gates of one 16k-coordinate run (~10 MB) stay in cache; vmapping 20 runs was 1.1-1.3x slower on
#: CPU (``bench/l2l_speed.py``). Baselines, whose state is a few vectors, are all vmapped (``None``).
LSTM_RUNS_PER_BATCH = 1


def run_many(name: str, hparam, keys: jax.Array, *args, **kwargs) -> Trajectory:
    """:func:`run_one` for every key (fresh init and minibatches per run): :func:`run_grid` (whose other
    arguments it takes) for the one hyperparameter ``hparam``, without the leading axis of hyperparameters."""
    one = jax.tree_util.tree_map(lambda a: a[None], hparam)
    traj = run_grid(name, one, keys, *args, **kwargs)
    return jax.tree_util.tree_map(lambda a: a[0], traj)


@partial(jax.jit, static_argnames=("name", "run", "cfg", "runs_per_batch"))
def run_grid(
    name: str,
    hparams,
    keys: jax.Array,
    x: jax.Array,
    y: jax.Array,
    run: OptimizeeRun,
    cfg: LSTMConfig = LSTMConfig(),
    *,
    runs_per_batch: int | None = None,
) -> Trajectory:
    """:func:`run_one` for every hyperparameter (leading axis of ``hparams``) x every key.

    All (hyperparameter, key) runs are vmapped together (``runs_per_batch=None``)
    or ``runs_per_batch`` at a time, one batch after the other (``lax.map``): the
    same results, less memory in flight at once. ``runs_per_batch`` is keyword-only:
    ``jax.jit`` keys its cache on how a static argument is passed, so one spelling
    at every call site compiles a program once.
    """
    n_h, n_k = jax.tree_util.tree_leaves(hparams)[0].shape[0], keys.shape[0]

    def one(pair):
        i, j = pair
        h = jax.tree_util.tree_map(lambda a: a[i], hparams)
        return run_one(name, h, keys[j], x, y, run, cfg)

    pairs = (jnp.repeat(jnp.arange(n_h), n_k), jnp.tile(jnp.arange(n_k), n_h))
    traj = jax.lax.map(one, pairs, batch_size=runs_per_batch or n_h * n_k)
    return jax.tree_util.tree_map(lambda a: a.reshape(n_h, n_k, *a.shape[1:]), traj)


def summarize(values: np.ndarray, lo_q: float = 10.0, hi_q: float = 90.0) -> dict[str, np.ndarray]:
    """Mean and a spread band (percentiles ``lo_q``..``hi_q``) over runs (axis 0)."""
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": values.mean(axis=0),
        "lo": np.percentile(values, lo_q, axis=0),
        "hi": np.percentile(values, hi_q, axis=0),
        "std": values.std(axis=0),
    }
