"""The meta-step against what the hardware allows: FLOPs counted by XLA, time, and a dense-matmul rate.

Prints one JSON line per figure:

* ``lstm_flops_per_coordinate_step``: XLA's cost analysis of one LSTM step (forward) and of its
  value-and-gradient (forward + backward), on 15,910 coordinates (the 784-20-10 optimizee),
  divided by the coordinates. XLA counts a loop body once, so single-step programs are analysed;
* ``meta_step``: the median time of one meta-step (one optimizee, 20 unrolled steps, as the
  released recipe; two optimizees, as the appendix recipe), the FLOPs it runs -- per optimizee
  and step: the rematerialized forward plus forward + backward of the LSTM, and the optimizee's
  own forward + backward, each from the cost analysis -- and the rate they give;
* ``matmul``: the rate of a 2048 x 2048 float32 matmul on the same CPU, the attainable dense rate.

The ratio of the meta-step's rate to the matmul rate is how far it is from the hardware's
arithmetic bound; the rest is memory traffic of the (hidden, coordinates) gate arrays.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
from l2l_speed import median_time  # a sibling script: bench/ is on the path when a bench runs

from hyperlab import backend, config
from hyperlab.data import load_npz
from hyperlab.l2l import meta_loss, optimizee, protocol
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_phi, initial_carry, lstm_optimizer, lstm_step
from hyperlab.l2l.meta_step import MetaState, make_meta_step, meta_optimizer

REPEATS = 7  # timed calls per figure (median), after one that compiles


def emit(name: str, **values) -> None:
    print(json.dumps({"figure": name, **values}), flush=True)


def flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def main() -> None:
    backend.configure()
    cfg, spec = LSTMConfig(), optimizee.MLPSpec((20,), "sigmoid")
    splits = protocol.splits_from_npz(load_npz("data/mnist.npz", config.split_sizes()))
    phi = init_phi(jax.random.key(0), cfg)
    theta = optimizee.init_theta(jax.random.key(1), spec)
    n = optimizee.n_coordinates(spec)
    g = jax.random.normal(jax.random.key(2), (n,)) * 1e-3
    carry = initial_carry(n, cfg)
    fwd = flops(lambda p, g, c: lstm_step(p, g, c, cfg)[0], phi, g, carry)
    both = flops(jax.value_and_grad(lambda p, g, c: jnp.sum(lstm_step(p, g, c, cfg)[0])), phi, g, carry)
    emit("lstm_flops_per_coordinate_step", coordinates=n, forward=fwd / n, forward_backward=both / n)
    loss_fn = meta_loss.mnist_loss_fn(splits["train"].x, splits["train"].y, spec, 128)
    net = flops(jax.value_and_grad(loss_fn), theta, jax.random.key(3))
    for meta_batch in (1, 2):
        meta_opt = meta_optimizer(0.001, None, 100, "constant")
        step = make_meta_step(loss_fn, meta_opt, meta_loss.UnrollSettings(cfg, "mean"))
        thetas = jax.vmap(lambda k: optimizee.init_theta(k, spec))(jax.random.split(jax.random.key(4), meta_batch))
        states = jax.vmap(lstm_optimizer(None, cfg).init)(thetas)
        keys = jax.random.split(jax.random.key(5), meta_batch * 21).reshape(meta_batch, 21)
        meta = MetaState(phi, meta_opt.init(phi))
        seconds = median_time(lambda: step(meta, thetas, states, keys), REPEATS)
        # per optimizee step: forward (rematerialized in the backward pass) + forward-backward of the LSTM,
        # and the optimizee's value-and-gradient twice (the unroll, then its rematerialization)
        counted = meta_batch * 20 * (fwd + both + 2 * net)
        emit(
            "meta_step",
            meta_batch=meta_batch,
            seconds=seconds,
            gflop=counted / 1e9,
            gflop_per_s=counted / 1e9 / seconds,
        )
    a = jax.random.normal(jax.random.key(6), (2048, 2048))
    square = jax.jit(lambda a: a @ a)
    seconds = median_time(lambda: square(a), REPEATS)
    emit("matmul", n=2048, seconds=seconds, gflop_per_s=2 * 2048**3 / 1e9 / seconds)


if __name__ == "__main__":
    main()
