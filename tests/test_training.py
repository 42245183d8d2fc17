"""Training networks (hyperlab.training): the Flax MLP and its initialization, packs of networks trained as one
program, minibatch orders, and latency timing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab import data
from hyperlab.training import mlp, timing, trainer


def test_init_is_flax_default_distribution_and_pack_independent():
    p = mlp.init_weights((512,), seed=3)
    k = p["layers_0"]["kernel"]
    assert k.dtype == np.float32 and np.abs(k).max() <= 2 / 0.8796 / np.sqrt(784) + 1e-7
    assert abs(k.std() * np.sqrt(784) - 1) < 0.02  # variance 1/fan_in (LeCun normal)
    assert not p["layers_0"]["bias"].any()
    np.testing.assert_array_equal(mlp.init_weights((512,), 3)["layers_1"]["kernel"], p["layers_1"]["kernel"])
    assert not np.array_equal(mlp.init_weights((512,), 4)["layers_0"]["kernel"], k)


def test_epoch_orders_are_permutations():
    orders = trainer.epoch_orders(seed=1, n_train=50, epochs=3, batch_size=8)
    assert orders.shape == (3, 6, 8)
    for epoch in orders:
        assert len(set(epoch.ravel())) == 48 and epoch.max() < 50
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders, trainer.epoch_orders(1, 50, 3, 8))


# --------------------------------------------------------------------------- packs


MIXED = [(16,), (32, 8), (16, 8, 8), (32, 8, 16), (8, 8)]


@pytest.mark.slow
def test_pack_computes_exactly_each_flax_network():
    plan = mlp.make_plan(MIXED)
    weights = [mlp.init_weights(a, seed=i) for i, a in enumerate(MIXED)]
    packed = mlp.pack_weights(plan, weights)
    back = mlp.unpack_weights(plan, packed)
    for p, b in zip(weights, back):
        assert jax.tree.all(jax.tree.map(np.array_equal, p, b))
    x = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    # jitted, pack and each network: one program each instead of one per eager op and shape
    logits = np.asarray(jax.jit(mlp.pack_logits, static_argnums=0)(plan, packed, jnp.asarray(x)))
    for i, (a, p) in enumerate(zip(MIXED, weights)):
        np.testing.assert_allclose(logits[i], jax.jit(mlp.MLP(a).apply)({"params": p}, x), rtol=1e-5, atol=1e-5)
    # few batched operations: one per distinct layer shape, not one per network
    assert len(plan.groups) == len({(a[d - 2], a[d - 1], d) for a in MIXED for d in range(2, len(a) + 1)}) + 2


@pytest.fixture(scope="module")
def splits(mnist_npz):
    d = data.load_npz(mnist_npz)
    return {k: (data.to_float(d[f"x_{k}"]), d[f"y_{k}"]) for k in ("train", "val", "test")}


def _train(plan, init, splits, epochs=2, lr=3e-3):
    x, y = splits["train"]
    orders = np.stack([trainer.epoch_orders(s, len(x), epochs, 50) for s in (0, 1)])
    chunks = tuple(jnp.asarray(c) for c in trainer.chunk_rows([splits["train"], splits["val"]], 128))
    train = trainer.make_pack_trainer(plan, learning_rate=lr, n_sets=2)
    return jax.block_until_ready(
        train(jax.tree.map(jnp.asarray, init), jnp.asarray(orders), jnp.asarray(x), jnp.asarray(y, jnp.int32), chunks)
    )


@pytest.mark.slow
def test_untrained_networks_at_chance_and_diverged_network_isolated(splits):
    archs = [(32, 16), (8,)]
    both = mlp.make_plan(archs)
    init = trainer.init_pack(both, seeds=[0, 1])
    x, y = splits["val"]
    chunks = tuple(jnp.asarray(c) for c in trainer.chunk_rows([splits["val"]], 64))
    pack_errors = jax.jit(mlp.pack_errors, static_argnums=(0, 5))  # one program, not one per eager op
    wrong = pack_errors(both, jax.tree.map(lambda a: jnp.asarray(a[0]), init), *chunks, 1)
    chance = np.asarray(wrong)[:, 0] / len(y)
    assert np.all((chance > 0.7) & (chance < 0.98)), chance  # 10 balanced classes: about 0.9

    # poison network (8,) under seed 1: it must fail alone, and (32, 16) must train exactly as if alone
    poisoned = jax.tree.map(np.copy, init)
    poisoned["out_8"]["kernel"][1] = np.nan
    res = _train(both, poisoned, splits)
    alone_plan = mlp.make_plan(archs[:1])
    alone = _train(alone_plan, trainer.init_pack(alone_plan, seeds=[0, 1]), splits)
    assert np.asarray(res.finite).tolist() == [[True, True], [True, False]]
    np.testing.assert_array_equal(np.asarray(res.wrong)[:, 0], np.asarray(alone.wrong)[:, 0])
    np.testing.assert_allclose(np.asarray(res.epoch_loss)[:, :, 0], np.asarray(alone.epoch_loss)[:, :, 0], rtol=1e-5)
    # training helped the healthy network: well below chance
    assert np.asarray(res.wrong)[:, 0, 1].max() / len(y) < 0.5


def test_latency_positive_and_larger_for_larger_networks():
    archs = [(8,), (512, 512), (16,), (256, 512)]
    weights = [mlp.init_weights(a, seed=0) for a in archs]
    x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
    ms = timing.time_latency(archs, weights, x, repeats=9, warmup=2, rng=np.random.default_rng(0))
    assert ms.shape == (4,) and (ms > 0).all()
    assert ms[[1, 3]].mean() > ms[[0, 2]].mean()
