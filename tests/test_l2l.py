"""Tests of the learned-optimizer experiment (Andrychowicz et al. 2016)."""

from __future__ import annotations

import json
import shutil
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab.l2l import meta_loss, meta_step, meta_train, optimizee
from hyperlab.l2l.lstm_optimizer import (
    LSTMConfig,
    init_phi,
    initial_carry,
    lstm_optimizer,
    lstm_step,
    preprocess,
    weights_from_arrays,
    weights_to_arrays,
)

CFG = LSTMConfig(hidden=8, layers=2, p=10.0, scale=0.1)


def _settings(**changes) -> meta_train.MetaTrainSettings:
    """Small meta-training settings for the tests; ``changes`` override them."""
    base = dict(
        cfg=CFG, n_steps=4, unroll_len=2, meta_steps=3, meta_batch=2, meta_lr=3e-3, clip_norm=1.0, val_every=10,
        objective="mean", schedule="constant", ema=0.0,
    )  # fmt: skip
    return meta_train.MetaTrainSettings(**{**base, **changes})


# --------------------------------------------------------------------------- preprocessing

#: jitted: one program per input shape and p instead of one per op
_preprocess = jax.jit(preprocess, static_argnames="p")


def test_preprocess_large_branch_is_log_magnitude_and_sign():
    g = jnp.array([0.5, -3.0, 1e-3])
    out = _preprocess(g, p=10.0)
    np.testing.assert_allclose(out[:, 0], np.log(np.abs([0.5, 3.0, 1e-3])) / 10.0, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 1], [1.0, -1.0, 1.0])


def test_preprocess_small_branch_is_minus_one_and_scaled_gradient():
    g = jnp.array([1e-6, -2e-5, 0.0])  # all below e^-10 ~ 4.54e-5
    out = _preprocess(g, p=10.0)
    np.testing.assert_array_equal(out[:, 0], [-1.0, -1.0, -1.0])
    np.testing.assert_allclose(out[:, 1], np.exp(10.0) * np.array([1e-6, -2e-5, 0.0]), rtol=1e-5)
    assert np.isfinite(np.asarray(out)).all()


def test_preprocess_branches_meet_at_threshold():
    # At |g| = e^-p the first component is -1 on both sides and the second is +-1.
    p = 5.0
    edge = float(np.exp(-p))
    out = np.asarray(_preprocess(jnp.array([edge * (1 + 1e-5), edge * (1 - 1e-5)]), p=p))
    np.testing.assert_allclose(out[:, 0], [-1.0, -1.0], atol=1e-4)
    np.testing.assert_allclose(out[:, 1], [1.0, 1.0], atol=1e-4)


# --------------------------------------------------------------------------- optax transformation


@pytest.mark.slow
def test_transformation_on_arbitrary_pytree_keeps_state_structure():
    tree = {"a": jnp.ones((3, 2)), "b": [jnp.float32(2.0), jnp.arange(4.0)], "c": (jnp.zeros((1, 1, 5)),)}
    opt = lstm_optimizer(init_phi(jax.random.key(0), CFG), CFG)
    state = opt.init(tree)
    n = sum(x.size for x in jax.tree_util.tree_leaves(tree))
    assert all(leaf.shape == (CFG.hidden, n) for leaf in jax.tree_util.tree_leaves(state))

    def loss(t):
        return sum(jnp.sum(jnp.sin(x) ** 2) for x in jax.tree_util.tree_leaves(t))

    def body(carry, _):
        theta, state = carry
        updates, new_state = opt.update(jax.grad(loss)(theta), state, theta)
        assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
        return (optax.apply_updates(theta, updates), new_state), None

    # lax.scan itself fails if the state's structure, shapes or dtypes changed between steps.
    (final, final_state), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=5))((tree, state))
    assert jax.tree_util.tree_structure(final) == jax.tree_util.tree_structure(tree)
    assert all(a.shape == b.shape for a, b in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(tree)))
    assert not np.allclose(np.asarray(final["a"]), 1.0)  # it moved
    assert float(jnp.abs(final_state.carry[0][0]).sum()) > 0  # and carried LSTM state


@pytest.mark.slow
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_lstm_step_is_the_flax_cell_with_coordinates_last(layers):
    """The fast step (state (hidden, n)) is CoordinatewiseLSTM's apply (state (n, hidden)):
    same update, same state, same meta-gradient through both."""
    from hyperlab.l2l.lstm_optimizer import CoordinatewiseLSTM

    cfg = CFG._replace(layers=layers)
    phi = init_phi(jax.random.key(3), cfg)
    # Perturb every weight: Flax's zero biases and tiny output init would hide a mixed-up gate or bias.
    leaves, tree = jax.tree_util.tree_flatten(phi)
    keys = jax.random.split(jax.random.key(4), len(leaves))
    phi = tree.unflatten([a + 0.5 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])
    n = 37
    g = jnp.concatenate([jax.random.normal(jax.random.key(5), (n - 2,)) * 1e-2, jnp.array([1e-7, -3e-6])])
    carry = tuple(
        (
            jax.random.normal(jax.random.key(6 + i), (cfg.hidden, n)),
            jax.random.normal(jax.random.key(9 + i), (cfg.hidden, n)),
        )
        for i in range(layers)
    )

    def flax_step(phi, carry, g=g):
        net = CoordinatewiseLSTM(cfg.hidden, cfg.layers)
        new, out = net.apply({"params": phi}, tuple((c.T, h.T) for c, h in carry), preprocess(g, cfg.p))
        return cfg.scale * out, tuple((c.T, h.T) for c, h in new)

    # Gradients through the written-out backward pass, w.r.t. the weights, the state and the gradient input.
    def objective(step):
        def f(phi, carry, g):
            u, new = step(phi, carry, g)
            return jnp.sum(jnp.sin(u)) + sum(jnp.sum(c * h) for c, h in new)

        return jax.grad(f, argnums=(0, 1, 2))

    @jax.jit  # both steps and both gradients in one program, not one per op
    def compare(phi, carry, g):
        flat = lambda t: jax.flatten_util.ravel_pytree(t)[0]  # noqa: E731
        steps = lstm_step(phi, g, carry, cfg), flax_step(phi, carry, g)
        ours = objective(lambda p, c, g: lstm_step(p, g, c, cfg))(phi, carry, g)
        ref = objective(flax_step)(phi, carry, g)
        return steps, flat(ours), flat(ref), flat(ours[2])

    (ours, ref), d_ours, d_ref, d_g = compare(phi, carry, g)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(d_g)).max() > 0  # the gradient input's cotangent is exercised too
    np.testing.assert_allclose(np.asarray(d_ours), np.asarray(d_ref), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_update_is_lstm_step_on_raveled_gradient():
    phi = init_phi(jax.random.key(1), CFG)
    tree = {"w": jnp.arange(6.0).reshape(2, 3) / 10, "b": jnp.array([1e-7, -2.0])}

    @jax.jit  # both sides in one program, not one per op
    def both(phi, tree):
        updates, _ = lstm_optimizer(phi, CFG).update(tree, lstm_optimizer(phi, CFG).init(tree))
        flat, _ = jax.flatten_util.ravel_pytree(tree)
        expected, _ = lstm_step(phi, flat, initial_carry(flat.size, CFG), CFG)
        return jax.flatten_util.ravel_pytree(updates)[0], expected

    updates, expected = both(phi, tree)
    np.testing.assert_allclose(updates, expected, rtol=1e-6)


@pytest.mark.slow
def test_baseline_switch_matches_each_optax_optimizer():
    from hyperlab.l2l.evaluate import BASELINES, baseline_switch, make_optimizer

    theta = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.2])}
    loss = lambda p: jnp.sum(jnp.cos(p["w"])) + jnp.sum(p["b"] ** 4)  # noqa: E731

    def run(opt, theta):
        state = opt.init(theta)
        for _ in range(3):
            updates, state = opt.update(jax.grad(loss)(theta), state, theta)
            theta = optax.apply_updates(theta, updates)
        return jax.flatten_util.ravel_pytree(theta)[0]

    @jax.jit  # every run in one program; the switch's index stays a traced argument, as in the runner
    def runs(theta, index):
        return [
            (run(baseline_switch(index[i], 0.1), theta), run(make_optimizer(name, 0.1), theta))
            for i, name in enumerate(BASELINES)
        ]

    for switched, direct in runs(theta, jnp.arange(len(BASELINES), dtype=jnp.int32)):
        np.testing.assert_allclose(switched, direct, rtol=1e-6, atol=1e-7)


def test_weights_roundtrip():
    phi = init_phi(jax.random.key(2), CFG)
    back, cfg = weights_from_arrays(weights_to_arrays(phi, CFG))
    assert cfg == CFG
    jax.tree_util.tree_map(np.testing.assert_array_equal, phi, back)


# --------------------------------------------------------------------------- meta-gradient


def _quadratic(d):
    scales = jnp.logspace(-1, 1, d)

    def loss_fn(theta, key):
        noise = 0.1 * jax.random.normal(key, (d,))
        return 0.5 * jnp.sum(scales * (theta["x"] - noise) ** 2)

    return loss_fn


# The small meta-training runs below share one optimizee family and one setting (meta_train compiles its
# programs once per (init_fn, loss_fn, settings) in a process, validation cadence and averaging aside):
# the same function objects and sizes, so every run after the first reuses the compiled programs.
D3 = 3
LOSS3 = _quadratic(D3)
ST3 = _settings(meta_steps=4, val_every=2, meta_lr=0.01)


def init3(k):
    return {"x": jax.random.normal(k, (D3,))}


D4 = 4
LOSS4 = _quadratic(D4)


@jax.jit  # module level: both objectives' tests record the same trajectory, compiled once
def _trajectory_gradients(phi, x, keys):
    """The optimizee gradients along the LSTM's trajectory on ``LOSS4`` from ``x``, one per key but the last."""
    grads, carry = [], initial_carry(x.size, CFG)
    for k in keys[:-1]:
        g = jax.grad(LOSS4)({"x": x}, k)["x"]
        grads.append(g)
        u, carry = lstm_step(phi, g, carry, CFG)
        x = x + u
    return grads


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["mean", "log_mean"])
def test_no_gradient_flows_through_the_optimizee_gradient(objective):
    """The meta-gradient is that of a replay with the optimizee gradients as constants, for the paper's
    mean of f(theta_1..theta_T) and for the mean of log f; the meta-loss is that replay's value."""
    d, T = D4, 4
    loss_fn = LOSS4
    phi = init_phi(jax.random.key(3), CFG)
    # A larger output weight makes the steps, and so the second-order terms, sizable.
    phi = {**phi, "out": {**phi["out"], "kernel": phi["out"]["kernel"] * 100}}
    theta = {"x": jnp.linspace(-1.0, 1.0, d)}
    keys = jax.random.split(jax.random.key(4), T + 1)
    state = lstm_optimizer(phi, CFG).init(theta)

    def meta(phi, first_order):
        return meta_loss.unroll(
            phi, theta, state, keys, loss_fn, meta_loss.UnrollSettings(CFG, objective, first_order)
        )[0]

    # value and gradient in one program each (the value eagerly would compile every op on its own)
    meta_value_and_grad = jax.jit(jax.value_and_grad(meta), static_argnums=1)
    value, ours = meta_value_and_grad(phi, True)
    full = meta_value_and_grad(phi, False)[1]

    # Reference: record the gradients along the trajectory as plain numbers, then
    # differentiate a replay in which they are constants.
    grads = [np.asarray(g) for g in _trajectory_gradients(phi, theta["x"], keys)]

    term = jnp.log if objective == "log_mean" else (lambda f: f)

    def replay(phi):
        p, carry, total = theta["x"], initial_carry(d, CFG), 0.0
        for t, k in enumerate(keys[:-1]):
            if t > 0:
                total = total + term(loss_fn({"x": p}, k))
            u, carry = lstm_step(phi, jnp.asarray(grads[t]), carry, CFG)
            p = p + u
        return (total + term(loss_fn({"x": p}, keys[-1]))) / T

    replayed, ref = jax.jit(jax.value_and_grad(replay))(phi)
    np.testing.assert_allclose(float(value), float(replayed), rtol=1e-5)
    flat = lambda t: np.asarray(jax.flatten_util.ravel_pytree(t)[0])  # noqa: E731
    np.testing.assert_allclose(flat(ours), flat(ref), rtol=1e-4, atol=1e-7)
    assert np.abs(flat(full) - flat(ours)).max() > 1e-3 * np.abs(flat(ours)).max()


def test_cosine_meta_lr_schedule_takes_full_steps_first_and_none_at_the_end():
    meta_steps, lr = 10, 0.01
    phi = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}

    @partial(jax.jit, static_argnums=0)  # every step in one program, not one per op and step
    def step_sizes(schedule):
        opt = meta_step.meta_optimizer(lr, clip_norm=1.0, meta_steps=meta_steps, schedule=schedule)
        state, out = opt.init(phi), []
        for _ in range(meta_steps + 1):
            updates, state = opt.update(grads, state, phi)
            out.append(jnp.abs(updates["w"]).max())
        return out

    sizes = {schedule: [float(s) for s in step_sizes(schedule)] for schedule in ("constant", "cosine")}
    # Adam's step on a constant gradient is ~lr; the cosine takes it from lr down to 0 at meta_steps.
    np.testing.assert_allclose(sizes["constant"], lr, rtol=1e-3)
    np.testing.assert_allclose(sizes["cosine"][0], lr, rtol=1e-3)
    assert all(a > b for a, b in zip(sizes["cosine"][:meta_steps], sizes["cosine"][1:]))
    assert sizes["cosine"][meta_steps] < 1e-9
    np.testing.assert_allclose(sizes["cosine"][meta_steps // 2], lr / 2, rtol=1e-3)


@pytest.mark.slow
def test_meta_training_on_quadratics_beats_untrained_lstm():
    d, n_steps, unroll_len = 10, 20, 5
    loss_fn = _quadratic(d)
    init_fn = lambda k: {"x": jax.random.normal(k, (d,))}  # noqa: E731
    test_keys = jax.random.split(jax.random.key(7), 8)

    @jax.jit
    def final_loss(phi):
        def one(key):
            k_init, k_run = jax.random.split(key)
            theta = init_fn(k_init)
            state = lstm_optimizer(phi, CFG).init(theta)

            def next_unroll(carry, k):  # a scan over the unrolls: one copy of the unroll in the program
                theta, state = carry
                settings = meta_loss.UnrollSettings(CFG, "mean")
                _, carry = meta_loss.unroll(phi, theta, state, jax.random.split(k, unroll_len + 1), loss_fn, settings)
                return carry, None

            keys = jax.random.split(k_run, n_steps // unroll_len)
            (theta, _), _ = jax.lax.scan(next_unroll, (theta, state), keys)
            return loss_fn(theta, jax.random.key(0))

        return jnp.mean(jax.vmap(one)(test_keys))

    result = meta_train.meta_train(
        jax.random.key(8),
        init_fn,
        loss_fn,
        lambda phi: float(final_loss(phi)),
        _settings(n_steps=n_steps, unroll_len=unroll_len, meta_steps=60, meta_batch=4, meta_lr=0.01, val_every=20),
    )
    untrained = result.history["val_loss"][0]
    assert result.best_step > 0
    assert result.best_val < 0.5 * untrained, (untrained, result.history["val_loss"])
    assert result.n_skipped == 0
    assert np.isclose(float(final_loss(result.best_phi)), result.best_val, rtol=1e-5)


@pytest.mark.slow
def test_vmapped_meta_seeds_match_separate_runs():
    loss_fn, init_fn = LOSS3, init3
    val_keys = jax.random.split(jax.random.key(9), 3)

    @jax.jit  # compiled once, not traced and compiled anew at every check
    def one_val(phi):
        def run(k):
            theta = init_fn(k)
            state = lstm_optimizer(phi, CFG).init(theta)
            settings = meta_loss.UnrollSettings(CFG, "mean")
            _, (theta, _) = meta_loss.unroll(phi, theta, state, jax.random.split(k, 3), loss_fn, settings)
            return loss_fn(theta, jax.random.key(0))

        return jax.vmap(run)(val_keys)

    # every seed's check by the same compiled one_val as the separate runs'
    seed_weights = jax.jit(lambda phis, s: jax.tree_util.tree_map(lambda a: a[s], phis))

    def val_many(phis):
        return np.stack([np.asarray(one_val(seed_weights(phis, s))) for s in range(len(keys))])

    st = ST3
    keys = jnp.stack([jax.random.key(5), jax.random.key(6)])
    together = meta_train.meta_train_seeds(keys, init_fn, loss_fn, val_many, st)
    for key, res in zip(keys, together):
        alone = meta_train.meta_train(key, init_fn, loss_fn, lambda phi: float(jnp.mean(one_val(phi))), st)
        np.testing.assert_allclose(res.history["meta_loss"], alone.history["meta_loss"], rtol=1e-5)
        np.testing.assert_allclose(res.history["val_loss"], alone.history["val_loss"], rtol=1e-5)
        assert res.best_step == alone.best_step
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), res.best_phi, alone.best_phi
        )
    assert together[0].history["meta_loss"] != together[1].history["meta_loss"]


@pytest.mark.slow
def test_meta_training_is_deterministic():
    runs = [meta_train.meta_train(jax.random.key(5), init3, LOSS3, lambda phi: 0.0, ST3) for _ in range(2)]
    assert runs[0].history["meta_loss"] == runs[1].history["meta_loss"]
    assert runs[0].history["grad_norm"] == runs[1].history["grad_norm"]


@pytest.mark.slow
def test_checked_weights_are_the_moving_average_of_the_iterates():
    ema = 0.5

    def seen_by_validator(ema):
        seen = []
        st = ST3._replace(val_every=1, ema=ema)
        meta_train.meta_train(jax.random.key(5), init3, LOSS3, lambda phi: seen.append(phi) or 0.0, st)
        return seen

    iterates, averages = seen_by_validator(0.0), seen_by_validator(ema)  # phi_0..phi_4 and what was checked
    expected = iterates[0]
    jax.tree_util.tree_map(np.testing.assert_array_equal, averages[0], expected)
    for phi, avg in zip(iterates[1:], averages[1:]):
        expected = jax.tree_util.tree_map(lambda a, b: ema * a + (1 - ema) * b, expected, phi)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), avg, expected)
    assert not np.allclose(np.asarray(averages[-1]["out"]["kernel"]), np.asarray(iterates[-1]["out"]["kernel"]))


@pytest.mark.slow
def test_non_finite_meta_update_is_skipped():
    def bad_loss(theta, key):
        return jnp.sum(theta["x"] ** 2) * jnp.nan

    result = meta_train.meta_train(
        jax.random.key(0),
        lambda k: {"x": jnp.ones(3)},
        bad_loss,
        lambda phi: 1.0,
        _settings(n_steps=4, unroll_len=2, meta_steps=2, meta_batch=1, val_every=1),
    )
    assert result.n_skipped == 2
    phi0 = init_phi(jax.random.split(jax.random.key(0))[0], CFG)
    jax.tree_util.tree_map(np.testing.assert_array_equal, result.best_phi, phi0)


# --------------------------------------------------------------------------- optimizee

# jitted: one program per network instead of one per op (and per random draw's shape)
_init_theta = jax.jit(optimizee.init_theta, static_argnums=1)
_loss = jax.jit(optimizee.loss, static_argnums=3)


@pytest.mark.slow
def test_optimizee_shapes_and_loss_at_init_is_chance():
    spec = optimizee.MLPSpec((20, 20), "relu")
    theta = _init_theta(jax.random.key(0), spec)
    assert [p["w"].shape for p in theta] == [(784, 20), (20, 20), (20, 10)]
    assert optimizee.n_coordinates(spec) == sum(x.size for x in jax.tree_util.tree_leaves(theta))
    x = jax.random.uniform(jax.random.key(1), (64, 784))
    y = jnp.arange(64) % 10
    assert abs(float(_loss(theta, x, y, "relu")) - np.log(10)) < 0.05


# --------------------------------------------------------------------------- stages


TINY = {
    "hidden": [8],
    "batch_size": 16,
    "n_steps": 4,
    "unroll": 2,
    "lstm_hidden": 4,
    "recipes": {"appendix": {"meta_updates": 4}, "released": {"meta_updates": 2}},
    "budgets": [2],
    "budget_runs": 2,  # as many as val_runs: the budget curve's LSTM runs reuse the validation checks' program
    "meta_seeds": 2,
    "val_every": 2,
    "val_runs": 2,
    "lr_grid": [0.1, 1.0],
    "tune_runs": 2,
    "eval_runs": 3,
    "long_steps": 6,
    "record_every": 2,
    "generalization": ["relu"],
}


@pytest.mark.slow
def test_stages_end_to_end(tmp_path, mnist_npz):
    from hyperlab.l2l.weights import load_weights

    (tmp_path / "data").mkdir()
    shutil.copy(mnist_npz, tmp_path / "data" / "mnist.npz")
    params = {"seed": 0, "l2l": TINY}
    run_stage("l2l_train", tmp_path, params)
    report = json.loads((tmp_path / "plots" / "l2l" / "meta_report.json").read_text())
    assert report["meta_seeds"] == [0, 1] and set(report["recipes"]) == {"appendix", "released"}
    meta = pd.read_csv(tmp_path / "plots" / "l2l" / "meta_training.csv")
    appendix = meta[meta.recipe == "appendix"]
    assert list(appendix.meta_step) == [1, 2, 3, 4] * 2 and np.isfinite(meta.meta_loss).all()
    assert list(meta[meta.recipe == "released"].meta_step) == [1, 2] * 2
    val = pd.read_csv(tmp_path / "plots" / "l2l" / "meta_validation.csv")
    val = val[val.recipe == "appendix"]
    for m in (0, 1):
        assert report["recipes"]["appendix"]["skipped_updates"][str(m)] == 0
        v = val[val.meta_seed == m]
        assert list(v.meta_step) == [0, 2, 4] and (v.val_se > 0).all()
    assert not np.allclose(appendix[appendix.meta_seed == 0].meta_loss, appendix[appendix.meta_seed == 1].meta_loss)
    # the curve: per recipe its budgets (and its own last meta-step), per meta-seed, the kept check at that budget
    curve = pd.read_csv(tmp_path / "plots" / "l2l" / "budget.csv")
    points = sorted(set(zip(curve.recipe, curve.meta_updates)))
    assert points == [("appendix", 2), ("appendix", 4), ("released", 2)] and (curve.runs == TINY["budget_runs"]).all()
    for row in curve[curve.recipe == "appendix"].itertuples():
        v = val[(val.meta_seed == row.meta_seed) & (val.meta_step <= row.meta_updates)]
        assert row.kept_meta_step == v.meta_step[v.val_loss.idxmin()]
    picked = report["chosen"]
    weights = load_weights(tmp_path / "data" / "l2l" / "lstm.npz", [0, 1])
    assert (weights.recipe, weights.meta_updates) == (picked["recipe"], picked["meta_updates"])
    assert weights.cfg.hidden == 4 and weights.meta_seeds == [0, 1]
    assert weights.cfg.preprocess == ("log_and_sign" if picked["recipe"] == "released" else "appendix")
    assert all(a.shape[0] == 2 for a in jax.tree_util.tree_leaves(weights.phi))

    run_stage("l2l", tmp_path, params)
    metrics = json.loads((tmp_path / "plots" / "l2l" / "report.json").read_text())
    assert set(metrics["settings"]) == {"base", "steps6", "relu"}
    curves = pd.read_csv(tmp_path / "plots" / "l2l" / "curves.csv")
    base = curves[curves.setting == "base"]
    assert set(base.optimizer) == {"sgd", "adam", "rmsprop", "nag", "lstm", "lstm_s0", "lstm_s1"}
    assert sorted(base.step.unique()) == list(range(7))
    assert list(base[base.loss_mean.notna()].step.unique()) == [0, 2, 4, 6]  # every record_every steps
    recorded = base.dropna(subset=["loss_mean"])
    assert base.param_norm_mean.notna().all() and (recorded.loss_lo <= recorded.loss_hi + 1e-12).all()
    assert ((recorded.loss_lo <= recorded.loss_mean + 1e-12) & (recorded.loss_mean <= recorded.loss_hi + 1e-12)).all()
    assert base[base.step == 6].grad_norm_mean.isna().all()  # no gradient after the last step
    assert (curves[curves.setting == "relu"].step.max()) == 4
    final = pd.read_csv(tmp_path / "plots" / "l2l" / "final.csv")
    row = final[(final.setting == "base") & (final.optimizer == "adam")].iloc[0]
    at4 = base[(base.optimizer == "adam") & (base.step == 4)].loss_mean.iloc[0]
    assert np.isclose(row.final_mean, at4)
    # every baseline runs at the learning rate with the lowest validation loss of its tuning grid
    tuning = pd.read_csv(tmp_path / "plots" / "l2l" / "lr_tuning.csv")
    assert set(tuning.setting) == {"base", "relu"} and len(tuning) == 2 * 4 * 2
    for (setting, name), grid in tuning.groupby(["setting", "optimizer"]):
        chosen = final[(final.setting == setting) & (final.optimizer == name)].lr
        assert len(chosen) == 1 and chosen.iloc[0] == grid.lr[grid.val_final_loss.idxmin()]
    assert final[final.optimizer.str.startswith("lstm")].lr.isna().all()
    head = json.loads((tmp_path / "metrics" / "l2l.json").read_text())
    assert head["meta_updates"] == picked["meta_updates"] and metrics["recipe"] == picked["recipe"]
    assert set(head["base_loss"]) == {"lstm_s0", "lstm_s1", "best_baseline"}
    assert head["lstm_seed_spread"] == pytest.approx(abs(head["base_loss"]["lstm_s0"] - head["base_loss"]["lstm_s1"]))
    seeds = metrics["settings"]["base"]["lstm_seeds"]
    assert set(seeds) == {"0", "1"} and all(set(s["wins"]) == {"sgd", "adam", "rmsprop", "nag"} for s in seeds.values())
    assert all(s["min_wins"] == min(s["wins"].values()) <= metrics["eval_runs"] for s in seeds.values())
    assert head["min_wins_vs_every_baseline"] == min(s["min_wins"] for s in seeds.values())


def test_checkpoint_summary_counts_paired_wins():
    """Two meta-seeds, four paired runs: the wins, the bar and the best baseline, counted by hand."""
    from hyperlab.l2l.eval_tables import checkpoint_summary

    loss_at = {
        "sgd": [1.0, 1.0, 1.0, 1.0],
        "adam": [0.5, 0.6, 0.7, 0.8],
        "rmsprop": [0.9, 0.9, 0.9, 0.9],
        "nag": [0.4, 0.9, 0.3, 0.8],  # best mean: 0.6
        "lstm_s0": [0.45, 0.55, 0.35, 0.9],
        "lstm_s1": [0.3, 0.2, 0.2, 0.7],
    }
    loss_at["lstm"] = loss_at["lstm_s0"] + loss_at["lstm_s1"]  # every seed's runs pooled
    lrs = {"sgd": 0.1, "adam": 0.01, "rmsprop": 0.02, "nag": 0.5, "lstm": np.nan, "lstm_s0": np.nan, "lstm_s1": np.nan}
    rows, res = checkpoint_summary("base", 100, {k: np.asarray(v) for k, v in loss_at.items()}, lrs, [0, 1])
    assert [r["optimizer"] for r in rows] == ["sgd", "adam", "rmsprop", "nag", "lstm", "lstm_s0", "lstm_s1"]
    by_name = {r["optimizer"]: r for r in rows}
    # a tie (0.9 vs rmsprop's 0.9) is not a win
    assert {b: by_name["lstm_s0"][f"wins_vs_{b}"] for b in ("sgd", "adam", "rmsprop", "nag")} == {
        "sgd": 4,
        "adam": 3,
        "rmsprop": 3,
        "nag": 1,
    }
    assert res["lstm_seeds"]["1"]["wins"] == {"sgd": 4, "adam": 4, "rmsprop": 4, "nag": 4}
    assert "wins_vs_sgd" not in by_name["adam"] and by_name["nag"]["lr"] == 0.5
    assert by_name["lstm"]["final_mean"] == pytest.approx(np.mean(loss_at["lstm"]))
    assert res["best_baseline"] == "nag" and res["nag"] == {
        "loss": pytest.approx(0.6),
        "std": pytest.approx(np.std([0.4, 0.9, 0.3, 0.8])),
        "lr": 0.5,
    }
    # the bar: at least 75 % of the 4 paired runs against every baseline -> 3 wins; seed 0 has 1 against nag
    assert [res["lstm_seeds"][m]["reaches_bar"] for m in ("0", "1")] == [False, True]
    assert res["min_wins_vs_every_baseline"] == 1 and res["seeds_reaching_bar"] == 1
    assert res["lstm_wins_vs_adam_fraction"] == 7 / 8
    assert res["lstm_seeds"]["0"]["loss"] == pytest.approx(0.5625) and res["lstm_beats_all_baselines"]


@pytest.mark.slow
def test_lstm_with_a_zero_output_layer_never_moves_the_optimizee():
    """theta_{t+1} = theta_t + scale * m(g): with m = 0 every step is exactly no update."""
    from hyperlab.l2l.evaluate import OptimizeeRun, run_many

    phi = init_phi(jax.random.key(3), CFG)
    phi = {**phi, "out": jax.tree_util.tree_map(jnp.zeros_like, phi["out"])}
    spec = optimizee.MLPSpec((4,), "sigmoid", in_dim=6, n_classes=3)
    x = jax.random.uniform(jax.random.key(4), (32, 6))
    y = jnp.arange(32) % 3
    traj = run_many("lstm", phi, jax.random.split(jax.random.key(5), 2), x, y, OptimizeeRun(spec, 6, 8), CFG)
    norms, losses = np.asarray(traj.param_norm), np.asarray(traj.loss)
    assert (norms == norms[:, :1]).all() and (losses == losses[:, :1]).all()
    assert (np.asarray(traj.grad_norm) > 0).all()  # the gradients were there; the optimizer ignored them


@pytest.mark.slow
def test_optimizee_loss_is_the_mean_negative_log_softmax():
    spec = optimizee.MLPSpec((5,), "tanh", in_dim=7, n_classes=4)
    theta = jax.tree_util.tree_map(lambda a: 50 * a, _init_theta(jax.random.key(6), spec))
    x = np.asarray(jax.random.normal(jax.random.key(7), (9, 7)))
    y = np.arange(9) % 4
    z = np.tanh(x @ np.asarray(theta[0]["w"], np.float64) + np.asarray(theta[0]["b"]))
    z = z @ np.asarray(theta[1]["w"], np.float64) + np.asarray(theta[1]["b"])
    by_hand = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(9), y])
    assert float(_loss(theta, jnp.asarray(x), jnp.asarray(y), "tanh")) == pytest.approx(by_hand, rel=1e-5)


def test_default_lr_grid_has_three_points_per_decade_and_matches_selection_runs():
    from hyperlab.config import L2LParams

    p = L2LParams()
    grid = np.asarray(p.lr_grid)
    steps = np.round(np.diff(np.log10(grid)), 6)
    assert sorted({tuple(steps[i : i + 3]) for i in range(0, len(steps) - 2, 3)}) == [(0.30103, 0.39794, 0.30103)]
    assert np.isclose(np.log10(grid[-1] / grid[0]) * 3 + 1, len(grid))
    assert p.tune_runs == p.val_runs  # as many tuning runs per rate as the LSTM gets per checkpoint check


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"unroll": 3}, "l2l.unroll"),
        ({"activation": "swish"}, "l2l.activation"),
        ({"record_every": 3}, "l2l.record_every"),
        ({"long_steps": 2}, "l2l.long_steps"),
        ({"generalization": ["relu", "relu"]}, "l2l.generalization"),
        ({"lr_grid": [0.1, -1.0]}, "l2l.lr_grid"),
        ({"recipes": {"appendix": {"meta_updates": "fast"}}}, "l2l.recipes.appendix.meta_updates"),
        ({"recipes": {"adam": {"meta_updates": 4}}}, "l2l.recipes"),
        ({"budgets": [2, 8]}, "l2l.budgets"),
        ({"bogus": 1}, "l2l.bogus"),
    ],
)
def test_bad_params_rejected(tmp_path, bad, key):
    proc = run_stage("l2l_train", tmp_path, {"seed": 0, "l2l": {**TINY, **bad}}, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], proc.stderr
