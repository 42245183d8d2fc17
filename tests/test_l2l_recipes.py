"""The two meta-training recipes, the budget snapshots of meta-training, and the budget curve's choice."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from hyperlab.l2l import meta_train, names
from hyperlab.l2l.budget_curve import choose, curve_rows
from hyperlab.l2l.lstm_optimizer import LOG_AND_SIGN_EPS, LSTMConfig, log_and_sign, preprocess_gradient
from hyperlab.l2l.recipes import RECIPES

CFG = LSTMConfig(hidden=8, layers=2)


def test_recipes_are_the_names_config_accepts_with_the_papers_and_the_released_values():
    assert tuple(RECIPES) == names.RECIPES
    appendix, released = RECIPES["appendix"], RECIPES["released"]
    assert (appendix.preprocess, appendix.p, appendix.scale, appendix.meta_lr) == ("appendix", 10.0, 0.1, 0.005)
    assert (released.preprocess, released.p, released.scale, released.meta_lr) == ("log_and_sign", 5.0, 0.01, 0.001)
    assert (released.meta_batch, released.clip_norm) == (1, None)
    assert {r.preprocess for r in RECIPES.values()} == set(names.PREPROCESSINGS)


#: jitted: one program per input shape instead of one per op
_log_and_sign = jax.jit(log_and_sign, static_argnums=1)


def test_log_and_sign_against_hand_computed_values():
    """k = 5: (max(log(|g| + eps) / 5, -1), clip(e^5 g, -1, 1)), eps = 2^-23."""
    g = np.asarray([0.5, -3.0, 1e-3, -1e-4, 0.0, 2e-3], dtype=np.float32)
    out = np.asarray(_log_and_sign(jnp.asarray(g), 5.0))
    eps = 2.0**-23
    first = [math.log(0.5 + eps) / 5, math.log(3.0 + eps) / 5, math.log(1e-3 + eps) / 5, -1.0, -1.0]
    first.append(math.log(2e-3 + eps) / 5)  # log(2e-3) / 5 = -1.24 -> floored
    first = [max(v, -1.0) for v in first]
    second = [1.0, -1.0, math.exp(5) * 1e-3, -math.exp(5) * 1e-4, 0.0, math.exp(5) * 2e-3]
    np.testing.assert_allclose(out[:, 0], first, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], second, rtol=1e-6)
    assert LOG_AND_SIGN_EPS == np.finfo(np.float32).eps
    # |g| = e^-k is where both components change form: the log reaches -1 and the sign reaches +-1
    edge = np.asarray(_log_and_sign(jnp.asarray([math.exp(-5.0)]), 5.0))[0]
    np.testing.assert_allclose(edge, [-1.0, 1.0], atol=1e-5)


def test_the_config_picks_the_preprocessing_and_its_constant():
    g = jnp.asarray([0.3, -1e-6])
    np.testing.assert_array_equal(
        preprocess_gradient(g, CFG._replace(preprocess="log_and_sign", p=5.0)), log_and_sign(g, 5.0)
    )
    appendix = np.asarray(preprocess_gradient(g, CFG._replace(p=10.0)))
    np.testing.assert_allclose(appendix[0], [math.log(0.3) / 10, 1.0], rtol=1e-6)
    np.testing.assert_allclose(appendix[1], [-1.0, -math.exp(10) * 1e-6], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown preprocessing 'sign'"):
        preprocess_gradient(g, CFG._replace(preprocess="sign"))


def test_the_released_scale_makes_the_step_a_tenth_of_the_appendixs():
    """The update is scale x the LSTM output (Eq. 1): the same weights and input, 0.01 vs 0.1."""
    from hyperlab.l2l.lstm_optimizer import init_phi, initial_carry, lstm_step

    phi = init_phi(jax.random.key(0), CFG)
    g = jnp.asarray([0.2, -0.05, 1e-3])
    step = jax.jit(lstm_step, static_argnums=3)  # one program per config, not one per op
    big, _ = step(phi, g, initial_carry(3, CFG), CFG._replace(scale=0.1))
    small, _ = step(phi, g, initial_carry(3, CFG), CFG._replace(scale=0.01))
    np.testing.assert_allclose(np.asarray(small), 0.1 * np.asarray(big), rtol=1e-5)


def _quadratic(d: int):
    def loss_fn(theta, key):
        a = 1.0 + jax.random.uniform(key, (d,))
        return jnp.sum(a * theta["x"] ** 2)

    return loss_fn


def _settings(**changes) -> meta_train.MetaTrainSettings:
    base = dict(
        cfg=CFG, n_steps=4, unroll_len=2, meta_steps=6, meta_batch=1, meta_lr=0.01, clip_norm=None, val_every=2,
        objective="mean", schedule="constant", ema=0.0,
    )  # fmt: skip
    return meta_train.MetaTrainSettings(**{**base, **changes})


@pytest.mark.slow
def test_a_snapshot_is_the_result_of_the_shorter_meta_training():
    """The weights kept after 2 of 4 meta-steps are those a 2-step run keeps, and the step they came from; the
    snapshot after the last step is what the run keeps."""
    d = 3
    init_fn = lambda k: {"x": jax.random.normal(k, (d,))}  # noqa: E731
    loss_fn = _quadratic(d)
    val = jax.jit(lambda phi: jnp.sum(jax.tree_util.tree_map(lambda a: jnp.sum(a**2), phi)["out"]["kernel"]))

    def run(**changes):
        return meta_train.meta_train(
            jax.random.key(3), init_fn, loss_fn, lambda phi: float(val(phi)), _settings(**changes)
        )

    # meta_train compiles once per setting, snapshots aside: the 4-step run below reuses the long run's programs
    long = run(meta_steps=4, snapshots=(2, 4))
    for n in (2, 4):
        short = run(meta_steps=n)
        kept, step = long.snapshots[n]
        assert step == short.best_step
        jax.tree_util.tree_map(np.testing.assert_array_equal, kept, short.best_phi)
    assert set(long.snapshots) == {2, 4}
    with pytest.raises(ValueError, match="snapshots"):
        run(snapshots=(7,))


def _point(recipe, n, losses, base):
    point = {"recipe": recipe, "meta_updates": n, "meta_seed": [0, 1], "kept_meta_step": [n, n]}
    return curve_rows(point, np.asarray(losses, dtype=float), {k: np.asarray(v, dtype=float) for k, v in base.items()})


BASE = {"sgd": [1.0] * 4, "adam": [0.5] * 4, "rmsprop": [0.9] * 4, "nag": [0.4, 0.4, 0.4, 0.4]}


def test_curve_rows_count_paired_wins_and_the_bar():
    rows = _point("appendix", 100, [[0.3, 0.3, 0.3, 0.5], [0.3, 0.45, 0.5, 0.5]], BASE)
    assert [r["wins_vs_nag"] for r in rows] == [3, 1]
    assert [r["wins_vs_adam"] for r in rows] == [3, 2]  # 0.5 vs 0.5 is a tie, not a win
    assert [r["reaches_bar"] for r in rows] == [True, False]  # bar: 75 % of 4 runs = 3 wins against every baseline
    assert rows[0]["val_loss"] == pytest.approx(0.35) and rows[0]["nag_loss"] == pytest.approx(0.4)


def test_choose_prefers_a_point_every_seed_passes_over_a_lower_failing_one():
    passing = _point("released", 300, [[0.3, 0.3, 0.3, 0.3], [0.35, 0.3, 0.3, 0.3]], BASE)
    failing_lower = _point("appendix", 1000, [[0.1, 0.1, 0.1, 0.1], [0.6, 0.6, 0.6, 0.6]], BASE)
    chosen = choose(pd.DataFrame(passing + failing_lower))
    assert (chosen["recipe"], chosen["meta_updates"], chosen["reproduced_on_val"]) == ("released", 300, True)
    assert chosen["verdict"] == "reproduced on val: released at 300 meta-updates"


def test_choose_without_a_passing_point_says_not_reproduced_within_the_largest_budget():
    a = _point("appendix", 100, [[0.45] * 4, [0.5] * 4], BASE)
    b = _point("released", 3000, [[0.42] * 4, [0.44] * 4], BASE)
    chosen = choose(pd.DataFrame(a + b))
    assert (chosen["recipe"], chosen["meta_updates"], chosen["reproduced_on_val"]) == ("released", 3000, False)
    assert chosen["largest_budget"] == 3000
    assert chosen["verdict"] == "not reproduced on val within 3000 meta-updates (the released code meta-trains 50,000)"
