"""Speed of the l2l experiment: one meta-step, and one evaluation run per optimizer.

Prints one JSON line per figure (medians of repeated timings, after a warm-up
call that compiles). Ratios are measured side by side in this run, timed
alternately so that both sides see the same load:

* ``meta_step_speedup_vs_committed``: the three meta-seeds' meta-step
  (meta_batch 2, unroll 20) in the reference implementation -- Flax's
  ``OptimizedLSTMCell`` on a ``(n, hidden)`` state, seeds and optimizees
  vmapped -- over the library's (:func:`lstm_step`: ``(hidden, n)`` state and
  a written-out backward pass; seeds and optimizees one after the other);
  above 1 when the new one pays. ``meta_step_speedup_cell`` and
  ``meta_step_speedup_one_optimizee_at_a_time`` split it into its two changes;
* ``eval_speedup_one_run_at_a_time``: 20 LSTM evaluation runs vmapped
  together (committed) over the same runs one at a time (``lax.map``,
  :data:`hyperlab.l2l.evaluate.LSTM_RUNS_PER_BATCH`);
* meta-step time per optimizee (meta_batch 1 vs 2: what vmapping buys),
  rematerialized vs stored backward, LSTM vs Adam optimizee runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from hyperlab.data import load_npz
from hyperlab.l2l import lstm_optimizer as lo
from hyperlab.l2l import meta_loss, optimizee, protocol
from hyperlab.l2l.evaluate import OptimizeeRun, run_many
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_phi, lstm_optimizer
from hyperlab.l2l.meta_step import MetaState, apply_meta_gradient, make_meta_step

REPEATS = 5
META_SEEDS = 3


def median_time(fn, repeats: int = REPEATS) -> float:
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def alternate(fns: dict, repeats: int = REPEATS) -> dict[str, float]:
    """Median time of each (compiled) function, timed in turns so that all see the same load."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


@contextlib.contextmanager
def committed_cell():
    """The reference LSTM cell: Flax's module applied to a ``(n, hidden)`` state."""

    def step(phi, g, carry, cfg=LSTMConfig()):
        net = lo.CoordinatewiseLSTM(cfg.hidden, cfg.layers)
        carry, out = net.apply({"params": phi}, carry, lo.preprocess(g, cfg.p))
        return cfg.scale * out, carry

    def carry(n, cfg):
        z = jnp.zeros((n, cfg.hidden))
        return tuple((z, z) for _ in range(cfg.layers))

    saved = lo.lstm_step, lo.initial_carry
    lo.lstm_step, lo.initial_carry = step, carry  # looked up by lstm_optimizer's init/update when traced
    try:
        yield
    finally:
        lo.lstm_step, lo.initial_carry = saved


def committed_seed_meta_step(loss_fn, meta_opt, settings: meta_loss.UnrollSettings):
    """The reference meta-step: meta-seeds and optimizees vmapped (same arithmetic)."""

    def meta_step(meta, theta, opt_state, keys):
        def batch_loss(phi):
            losses, carry = jax.vmap(lambda t, s, k: meta_loss.unroll(phi, t, s, k, loss_fn, settings))(
                theta, opt_state, keys
            )
            return jnp.mean(losses), carry

        (loss, (theta, opt_state)), grads = jax.value_and_grad(batch_loss, has_aux=True)(meta.phi)
        meta, gnorm, ok = apply_meta_gradient(meta, meta_opt, loss, grads)
        return meta, theta, opt_state, loss, gnorm, ok

    return jax.jit(jax.vmap(meta_step))


def emit(metric: str, value: float, **extra) -> None:
    print(json.dumps({"bench": "l2l_speed", "metric": metric, "value": round(value, 4), **extra}), flush=True)


def main() -> None:
    splits = protocol.splits_from_npz(load_npz("data/mnist.npz"))
    spec, cfg = optimizee.MLPSpec(), LSTMConfig()
    unroll = meta_loss.UnrollSettings(cfg, "mean")
    phi = init_phi(jax.random.key(0), cfg)
    loss_fn = meta_loss.mnist_loss_fn(splits["train"].x, splits["train"].y, spec, 128)
    meta_opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    meta = MetaState(phi, meta_opt.init(phi))
    template = lstm_optimizer(phi, cfg)

    # The committed meta-step against the library's, on META_SEEDS seeds x meta_batch 2, and each change alone.
    seeds = jax.random.split(jax.random.key(4), META_SEEDS)
    phis = jax.vmap(lambda k: init_phi(k, cfg))(seeds)
    metas = MetaState(phis, jax.vmap(meta_opt.init)(phis))
    theta = jax.vmap(jax.vmap(lambda k: optimizee.init_theta(k, spec)))(
        jax.random.split(jax.random.key(5), META_SEEDS * 2).reshape(META_SEEDS, 2)
    )
    keys = jax.random.split(jax.random.key(6), META_SEEDS * 2 * 21).reshape(META_SEEDS, 2, 21)
    variants = {  # name: (cell context, meta-step maker, what it is)
        "committed": (
            committed_cell,
            committed_seed_meta_step,
            "Flax OptimizedLSTMCell on a (n, hidden) state; seeds and optimizees vmapped",
        ),
        "new_cell": (
            contextlib.nullcontext,
            committed_seed_meta_step,
            "lstm_step: (hidden, n) state, written-out backward; seeds and optimizees vmapped",
        ),
        "library": (
            contextlib.nullcontext,
            functools.partial(make_meta_step, over_seeds=True),
            "lstm_step; seeds and optimizees one after the other (lax.map)",
        ),
    }
    steps = {}
    for name, (cell, make, _) in variants.items():
        with cell():  # traced (first call) under the cell being measured
            state = jax.vmap(jax.vmap(template.init))(theta)
            step = make(loss_fn, meta_opt, unroll)
            jax.block_until_ready(step(metas, theta, state, keys))
        steps[name] = lambda step=step, state=state: step(metas, theta, state, keys)[3]
    times = alternate(steps)
    for name, (_, _, label) in variants.items():
        emit(
            "meta_step_seconds_seeds", times[name], meta_seeds=META_SEEDS, meta_batch=2, unroll=20, implementation=label
        )
    emit("meta_step_speedup_vs_committed", times["committed"] / times["library"], meta_seeds=META_SEEDS)
    emit("meta_step_speedup_cell", times["committed"] / times["new_cell"], meta_seeds=META_SEEDS)
    emit("meta_step_speedup_one_optimizee_at_a_time", times["new_cell"] / times["library"], meta_seeds=META_SEEDS)

    per_step = {}
    for batch, remat in ((1, True), (2, True), (2, False)):
        step = make_meta_step(loss_fn, meta_opt, unroll._replace(remat=remat))
        theta = jax.vmap(lambda k: optimizee.init_theta(k, spec))(jax.random.split(jax.random.key(1), batch))
        state = jax.vmap(template.init)(theta)
        keys = jax.random.split(jax.random.key(2), batch * 21).reshape(batch, 21)
        per_step[(batch, remat)] = median_time(lambda: step(meta, theta, state, keys)[3])
        emit(
            "meta_step_seconds",
            per_step[(batch, remat)],
            meta_batch=batch,
            unroll=20,
            remat=remat,
            n_params=optimizee.n_coordinates(spec),
        )
    emit("meta_step_seconds_per_optimizee_ratio_b2_over_b1", per_step[(2, True)] / 2 / per_step[(1, True)])
    emit("meta_step_stored_over_remat_ratio", per_step[(2, False)] / per_step[(2, True)], meta_batch=2)

    keys = jax.random.split(jax.random.key(3), 20)
    test, run = splits["test"], OptimizeeRun(spec, 100, 128, every=5)
    runs = {
        f"rpb{b}": (lambda b=b: run_many("lstm", phi, keys, test.x, test.y, run, cfg, runs_per_batch=b).loss)
        for b in (None, 1)
    }
    for fn in runs.values():
        jax.block_until_ready(fn())  # compile
    times = alternate(runs, repeats=3)
    emit("eval_seconds_per_run", times["rpbNone"] / 20, optimizer="lstm", steps=100, runs="20 vmapped (committed)")
    emit("eval_seconds_per_run", times["rpb1"] / 20, optimizer="lstm", steps=100, runs="one at a time")
    emit("eval_speedup_one_run_at_a_time", times["rpbNone"] / times["rpb1"], optimizer="lstm")
    t_adam = median_time(lambda: run_many("adam", jnp.float32(0.03), keys, test.x, test.y, run, cfg).loss, repeats=3)
    emit("eval_seconds_per_run", t_adam / 20, optimizer="adam", steps=100, runs="20 vmapped")
    emit("eval_lstm_over_adam_ratio", times["rpb1"] / t_adam, steps=100)


if __name__ == "__main__":
    main()
