"""Speed of the l2l experiment: one meta-step, and one evaluation run per optimizer.

Prints one JSON line per figure (medians of repeated timings, after a warm-up
call that compiles). Ratios are measured side by side in this run:
meta-step time per optimizee (meta_batch 1 vs 2: what vmapping buys),
rematerialized vs stored backward, LSTM vs Adam optimizee runs, and the
meta-step of ``META_SEEDS`` meta-training seeds vmapped in one program
against the committed implementation (one single-seed meta-step per seed,
run one after the other): ``meta_step_speedup_seeds_vmapped`` is
``META_SEEDS * t(single seed) / t(all seeds vmapped)``, above 1 when vmapping pays.
"""

from __future__ import annotations

import json
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from hyperlab.data import load_npz
from hyperlab.l2l import meta_train, optimizee, pipeline
from hyperlab.l2l.evaluate import run_many
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_lstm_params, lstm_optimizer

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


def emit(metric: str, value: float, **extra) -> None:
    print(json.dumps({"bench": "l2l_speed", "metric": metric, "value": round(value, 4), **extra}), flush=True)


def main() -> None:
    splits = pipeline.splits_from_npz(load_npz("data/mnist.npz"))
    spec, cfg = optimizee.MLPSpec(), LSTMConfig()
    phi = init_lstm_params(jax.random.key(0), cfg)
    loss_fn = meta_train.mnist_loss_fn(splits["train"].x, splits["train"].y, spec, 128)
    meta_opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    meta = meta_train.MetaState(phi, meta_opt.init(phi))
    template = lstm_optimizer(phi, cfg)

    # Several meta-seeds: one vmapped program against the committed implementation (one single-seed
    # meta-step per seed, one after the other); timed alternately so that both see the same load.
    seeds = jax.random.split(jax.random.key(4), META_SEEDS)
    phis = jax.vmap(lambda k: init_lstm_params(k, cfg))(seeds)
    metas = meta_train.MetaState(phis, jax.vmap(meta_opt.init)(phis))
    params = jax.vmap(jax.vmap(lambda k: optimizee.init_params(k, spec)))(
        jax.random.split(jax.random.key(5), META_SEEDS * 2).reshape(META_SEEDS, 2))
    state = jax.vmap(jax.vmap(template.init))(params)
    keys = jax.random.split(jax.random.key(6), META_SEEDS * 2 * 21).reshape(META_SEEDS, 2, 21)
    vmapped = meta_train.make_seed_meta_step(loss_fn, meta_opt, cfg)
    single = meta_train.make_meta_step(loss_fn, meta_opt, cfg)
    pick = lambda tree, s: jax.tree_util.tree_map(lambda a: a[s], tree)  # noqa: E731
    one_by_one = lambda: [single(pick(metas, s), pick(params, s), pick(state, s), keys[s])[3]  # noqa: E731
                          for s in range(META_SEEDS)]
    both = {"committed": one_by_one, "vmapped": lambda: vmapped(metas, params, state, keys)[3]}
    times = {name: [] for name in both}
    for name, fn in both.items():
        jax.block_until_ready(fn())  # compile
    for _ in range(REPEATS):
        for name, fn in both.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    t_seq, t_vmapped = statistics.median(times["committed"]), statistics.median(times["vmapped"])
    emit("meta_step_seconds_seeds", t_seq, meta_seeds=META_SEEDS, meta_batch=2, unroll=20,
         implementation="committed: single-seed meta-step once per seed")
    emit("meta_step_seconds_seeds", t_vmapped, meta_seeds=META_SEEDS, meta_batch=2, unroll=20,
         implementation="all seeds vmapped in one program")
    emit("meta_step_speedup_seeds_vmapped", t_seq / t_vmapped, meta_seeds=META_SEEDS)

    per_step = {}
    for batch, remat in ((1, True), (2, True), (2, False)):
        step = meta_train.make_meta_step(loss_fn, meta_opt, cfg, remat=remat)
        params = jax.vmap(lambda k: optimizee.init_params(k, spec))(jax.random.split(jax.random.key(1), batch))
        state = jax.vmap(template.init)(params)
        keys = jax.random.split(jax.random.key(2), batch * 21).reshape(batch, 21)
        per_step[(batch, remat)] = median_time(lambda: step(meta, params, state, keys)[3])
        emit("meta_step_seconds", per_step[(batch, remat)], meta_batch=batch, unroll=20, remat=remat,
             n_params=optimizee.n_params(spec))
    emit("meta_step_seconds_per_optimizee_ratio_b2_over_b1", per_step[(2, True)] / 2 / per_step[(1, True)])
    emit("meta_step_stored_over_remat_ratio", per_step[(2, False)] / per_step[(2, True)], meta_batch=2)

    keys = jax.random.split(jax.random.key(3), 20)
    test = splits["test"]
    t_lstm = median_time(lambda: run_many("lstm", phi, keys, test.x, test.y, spec, 100, 128, cfg, every=5).loss,
                         repeats=3)
    t_adam = median_time(lambda: run_many("adam", jnp.float32(0.03), keys, test.x, test.y, spec, 100, 128, cfg,
                                          every=5).loss, repeats=3)
    emit("eval_seconds_per_run", t_lstm / 20, optimizer="lstm", steps=100, runs_batched=20)
    emit("eval_seconds_per_run", t_adam / 20, optimizer="adam", steps=100, runs_batched=20)
    emit("eval_lstm_over_adam_ratio", t_lstm / t_adam, steps=100)


if __name__ == "__main__":
    main()
