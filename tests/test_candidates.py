"""The candidates stage: space, packed trainer, latency timing, table contract, params checks."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config, data
from hyperlab.selection.space import architectures
from hyperlab.training import latency, mlp, network, trainer

CONTRACT = [
    "arch",
    "n_layers",
    "width_1",
    "width_2",
    "seed",
    "n_params",
    "flops",
    "train_error",
    "val_error",
    "test_error",
    "train_seconds",
    "latency_ms",
    "status",
]


# --------------------------------------------------------------------------- space


def test_space_size_order_and_closed_forms():
    archs = architectures.enumerate_space((1, 2, 3), (16, 32, 64, 128, 256, 512))
    assert len(archs) == architectures.space_size((1, 2, 3), (16, 32, 64, 128, 256, 512)) == 6 + 36 + 216
    assert len(set(archs)) == len(archs) and archs[0] == (16,) and archs[-1] == (512, 512, 512)
    assert network.arch_name((64, 32)) == "64-32" and network.parse_arch("64-32") == (64, 32)
    assert network.n_params((64, 32)) == (784 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    assert network.forward_flops((64, 32)) == 2 * (784 * 64 + 64 * 32 + 32 * 10)
    # training: forward + weight gradients + input gradients of all layers but the first
    assert network.train_flops((64, 32)) == 3 * 2 * (784 * 64 + 64 * 32 + 32 * 10) - 2 * 784 * 64
    # the Flax model agrees with the parameter count
    params = mlp.init_params((64, 32), seed=0)
    assert sum(p.size for p in jax.tree.leaves(params)) == network.n_params((64, 32))


def test_init_is_flax_default_distribution_and_pack_independent():
    p = mlp.init_params((512,), seed=3)
    k = p["layers_0"]["kernel"]
    assert k.dtype == np.float32 and np.abs(k).max() <= 2 / 0.8796 / np.sqrt(784) + 1e-7
    assert abs(k.std() * np.sqrt(784) - 1) < 0.02  # variance 1/fan_in (LeCun normal)
    assert not p["layers_0"]["bias"].any()
    np.testing.assert_array_equal(mlp.init_params((512,), 3)["layers_1"]["kernel"], p["layers_1"]["kernel"])
    assert not np.array_equal(mlp.init_params((512,), 4)["layers_0"]["kernel"], k)


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
    params = [mlp.init_params(a, seed=i) for i, a in enumerate(MIXED)]
    packed = mlp.pack_params(plan, params)
    back = mlp.unpack_params(plan, packed)
    for p, b in zip(params, back):
        assert jax.tree.all(jax.tree.map(np.array_equal, p, b))
    x = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    logits = np.asarray(mlp.pack_logits(plan, jax.tree.map(jnp.asarray, packed), jnp.asarray(x)))
    for i, (a, p) in enumerate(zip(MIXED, params)):
        np.testing.assert_allclose(logits[i], mlp.MLP(a).apply({"params": p}, x), rtol=1e-5, atol=1e-5)
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
    wrong = mlp.pack_errors(both, jax.tree.map(lambda a: jnp.asarray(a[0]), init), *chunks, 1)
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
    params = [mlp.init_params(a, seed=0) for a in archs]
    x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
    ms = latency.time_latency(archs, params, x, repeats=9, warmup=2, rng=np.random.default_rng(0))
    assert ms.shape == (4,) and (ms > 0).all()
    assert ms[[1, 3]].mean() > ms[[0, 2]].mean()


# --------------------------------------------------------------------------- stage


TINY = {
    "layers": [1, 2],
    "widths": [8, 256],
    "n_seeds": 2,
    "epochs": 2,
    "batch_size": 50,
    "learning_rate": 0.003,
    "latency_batch": 128,
    "latency_repeats": 5,
    "latency_warmup": 1,
}


def _stage(tmp_path, mnist_npz, name, candidates_params, check=True):
    work = tmp_path / name
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    proc = run_stage("candidates", work, {"seed": 0, "candidates": candidates_params}, check=check)
    return work, proc


@pytest.mark.slow
def test_stage_table_contract_determinism_and_outputs(tmp_path, mnist_npz):
    work, _ = _stage(tmp_path, mnist_npz, "a", TINY)
    table = pd.read_csv(work / "data" / "candidates.csv", dtype={"arch": str})
    assert list(table.columns[: len(CONTRACT)]) == CONTRACT
    assert len(table) == 6 * 2 and set(table["seed"]) == {0, 1} and (table["status"] == "ok").all()
    row = table[(table["arch"] == "256-8")].iloc[0]
    assert (row["n_layers"], row["width_1"], row["width_2"]) == (2, 256, 8)
    assert (table.loc[table["n_layers"] == 1, "width_2"] == 0).all()
    assert row["n_params"] == network.n_params((256, 8)) and row["flops"] == network.forward_flops((256, 8))
    for col in ("train_error", "val_error", "test_error"):
        assert table[col].between(0, 1).all()
    assert (table["val_error"] < 0.85).all() and table["val_error"].min() < 0.3  # trained: below chance (0.9)
    assert (table["latency_ms"] > 0).all() and (table["train_seconds"] > 0).all()
    big = table["flops"] > table["flops"].median()
    assert table.loc[big, "latency_ms"].mean() > table.loc[~big, "latency_ms"].mean()

    metrics = json.loads((work / "plots" / "candidates" / "report.json").read_text())
    nets_mean = table.groupby("arch")["val_error"].mean()
    assert metrics["n_networks"] == 6 and metrics["n_failed"] == 0
    assert metrics["best_arch"] == nets_mean.idxmin()
    assert metrics["best_val_error"] == pytest.approx(nets_mean.min())
    assert metrics["latency_ms_min"] == pytest.approx(table["latency_ms"].min())
    front = pd.read_csv(work / "plots" / "candidates" / "pareto.csv", dtype={"arch": str})
    scatter = pd.read_csv(work / "plots" / "candidates" / "scatter.csv", dtype={"arch": str})
    assert len(scatter) == 6 and scatter["pareto"].sum() == len(front) >= 1
    assert front["latency_ms"].is_monotonic_increasing and front["val_error"].is_monotonic_decreasing
    assert metrics["best_arch"] in set(front["arch"])  # the most accurate network is on the front

    work2, _ = _stage(tmp_path, mnist_npz, "b", TINY)  # same params and seed: same errors
    again = pd.read_csv(work2 / "data" / "candidates.csv", dtype={"arch": str})
    pd.testing.assert_frame_equal(table[CONTRACT[:10]], again[CONTRACT[:10]])


def test_stage_diverged_runs_become_failed_rows(tmp_path, mnist_npz, monkeypatch):
    """Every run diverges at learning rate 1e30 -- beyond the params range, so patched in past validation."""
    import importlib.util

    from conftest import MNIST_DATA, REPO
    from hyperlab import cli

    params = {**TINY, "widths": [8], "latency_repeats": 3}
    work = tmp_path / "nan"
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    (work / "params.yaml").write_text(json.dumps({"seed": 0, "data": MNIST_DATA, "candidates": params}))
    real = config.load_section
    monkeypatch.setattr(
        config,
        "load_section",
        lambda name, *args: (
            real(name, *args).model_copy(update={"learning_rate": 1e30}) if name == "candidates" else real(name, *args)
        ),
    )
    monkeypatch.chdir(work)
    spec = importlib.util.spec_from_file_location("stage_candidates", REPO / "stages" / "candidates.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    cli.run_stage(stage.main, name="candidates")
    table = pd.read_csv(work / "data" / "candidates.csv", dtype={"arch": str})
    assert len(table) == 4 and (table["status"] == "failed").all()
    assert table[["train_error", "val_error", "test_error"]].isna().all().all()
    assert (table["latency_ms"] > 0).all()
    metrics = json.loads((work / "plots" / "candidates" / "report.json").read_text())
    assert metrics["n_failed"] == 4 and metrics["best_val_error"] is None


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"widths": [16, 0]}, "candidates.widths: got [16, 0]; must be >= 1"),
        ({"layers": [1, 1]}, "candidates.layers: got [1, 1]; must not repeat a value"),
        ({"epochs": 0}, "candidates.epochs: got 0; must be >= 1"),
        ({"learning_rate": -1}, "candidates.learning_rate: got -1; must be >= 1e-08"),
        ({"colour": 1}, "candidates.colour: unknown key"),
        ({"layers": [1, 2, 3, 4, 5, 6], "widths": list(range(1, 11))}, "candidates.layers"),
    ],
)
def test_bad_params_rejected(bad, fragment):
    with pytest.raises(config.ConfigError) as err:
        config.parse_section(config.CandidatesParams, bad, "candidates")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_stage_rejects_batch_larger_than_training_split(tmp_path, mnist_npz):
    work, proc = _stage(tmp_path, mnist_npz, "bad", {"batch_size": 100000}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: params.yaml: candidates.batch_size: got 100000")
    assert not (work / "data" / "candidates.csv").exists()
