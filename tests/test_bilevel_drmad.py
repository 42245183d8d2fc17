"""DrMAD and K-piece trajectory linearization (hyperlab.bilevel.drmad).

Everything runs in float64 (``jax.enable_x64`` per test) so "exact" means rounding-level.

The library functions are called through the jitted wrappers below (the losses, T, K and settings
static): one XLA program per problem and size, shared by every test that asks for it, instead of one
small program per eager op and scan. Tests use the same sizes (d = 3, T = 10 or 32) where their check
holds for any size, so the programs repeat.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.bilevel import drmad as dm
from hyperlab.bilevel import reverse
from hyperlab.bilevel.toy import train_loss, val_loss

_trajectory = jax.jit(dm.trajectory, static_argnums=(0, 3))
_momentum_train = jax.jit(dm.momentum_train, static_argnums=(0, 3))
_checkpoints = jax.jit(dm.momentum_checkpoints, static_argnums=(0, 3, 4))
_interpolated = jax.jit(reverse.interpolated_trajectory, static_argnums=1)
_autodiff = jax.jit(dm.autodiff_hypergrad, static_argnums=(0, 1, 4))
_checkpointed = jax.jit(dm.checkpointed_momentum_hypergrad, static_argnums=(0, 1, 4, 5, 6))


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _toy_setup(d=3, lr=0.2, gamma=0.9):
    w0 = jnp.linspace(-1.0, 2.0, d)
    hyper = dm.Hyper(jnp.linspace(1.5, -0.5, d), jnp.log(jnp.asarray(lr)), jnp.asarray(gamma))
    return w0, hyper


def nonquadratic_train_loss(w, h):
    """Non-quadratic in w, h enters nonlinearly, and h (2,) has another shape than w (2, 3)."""
    return jnp.exp(h[0]) * jnp.sum(jnp.log(jnp.cosh(w - 1.0))) + 0.5 * jnp.sum((w * h[1]) ** 2) + 0.1 * jnp.sum(w**4)


def nonquadratic_val_loss(w):
    return jnp.sum(jnp.sin(w) ** 2) + 0.5 * jnp.sum(w**2)


def _nonquadratic_setup(lr=0.05, gamma=0.3):
    w0 = jnp.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    return w0, dm.Hyper(jnp.array([0.2, 0.8]), jnp.log(jnp.asarray(lr)), jnp.asarray(gamma))


@partial(jax.jit, static_argnums=2)
def _reverse_pass_along_the_trajectory(w0, hyper, T):
    """The momentum rule of the reverse engine given the exact trajectory of the non-quadratic problem."""
    ckpt = reverse.Checkpoints(jnp.arange(T + 1), dm.trajectory(nonquadratic_train_loss, w0, hyper, T))
    rule = reverse.Momentum(nonquadratic_train_loss)
    step = dm.momentum_step(nonquadratic_train_loss)
    return reverse.reverse_pass(step, nonquadratic_val_loss, hyper, ckpt, T, momentum=rule).grad


def _assert_hyper_close(a: dm.Hyper, b: dm.Hyper, rtol: float, atol: float = 0.0):
    for name, x, y in zip(dm.Hyper._fields, a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=name)


# --------------------------------------------------------------------------- forward pass and oracle


def test_forward_step_matches_maclaurin_update_by_hand():
    T = 10  # the size the checkpoint tests compile
    w0, hyper = _toy_setup()
    ws = _trajectory(train_loss, w0, hyper, T)
    w, v = np.asarray(w0), np.zeros(3)
    alpha, gamma, h = 0.2, 0.9, np.asarray(hyper.h)
    for t in range(1, T + 1):
        v = gamma * v - (1 - gamma) * 2 * (w + h)  # ∇_w |h + w|^2 = 2 (w + h)
        w = w + alpha * v
        np.testing.assert_allclose(ws[t], w, rtol=1e-13)
    np.testing.assert_allclose(_momentum_train(train_loss, w0, hyper, T).w, w, rtol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("T,K", [(10, 1), (10, 3), (7, 7)])
def test_checkpoints_are_the_trajectory_at_their_times_and_linear_in_between(T, K):
    w0, hyper = _toy_setup()
    full = np.asarray(_trajectory(train_loss, w0, hyper, T))
    ckpt, final = _checkpoints(train_loss, w0, hyper, T, K)
    times = np.asarray(ckpt.times)
    assert times[0] == 0 and times[-1] == T and len(times) == K + 1 and np.all(np.diff(times) > 0)
    np.testing.assert_array_equal(np.asarray(ckpt.w), full[times])  # the same scan, bit for bit
    np.testing.assert_array_equal(np.asarray(final.w), full[T])
    path = np.asarray(_interpolated(ckpt, T))
    for k in range(K):
        s0, s1 = times[k], times[k + 1]
        lam = (np.arange(s0, s1 + 1) - s0) / (s1 - s0)
        expected = (1 - lam)[:, None] * full[s0] + lam[:, None] * full[s1]
        np.testing.assert_allclose(path[s0 : s1 + 1], expected, rtol=1e-13, atol=1e-15)
    if K == T:
        np.testing.assert_array_equal(path, full)


def test_drmad_oracle_is_the_straight_line_with_constant_velocity():
    T = 10  # the checkpoint tests' size: the check is on every step, whatever T
    w0, hyper = _toy_setup()
    ckpt, final = _checkpoints(train_loss, w0, hyper, T, 1)
    assert ckpt.w.shape[0] == dm.stored_vectors(T, 1) == 2
    path = np.asarray(_interpolated(ckpt, T))
    steps = np.diff(path, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to((final.w - w0) / T, steps.shape), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- hypergradients


def test_autodiff_reference_matches_central_finite_differences():
    T = 32  # the size the other quadratic-toy hypergradient tests compile
    w0, hyper = _toy_setup()
    _, _, grads = _autodiff(train_loss, val_loss, w0, hyper, T)

    @jax.jit  # one program for the 10 evaluations
    def objective(hyper):
        return val_loss(dm.momentum_train(train_loss, w0, hyper, T).w)

    eps = 1e-6
    for name in ("log_lr", "momentum"):
        plus = objective(hyper._replace(**{name: getattr(hyper, name) + eps}))
        minus = objective(hyper._replace(**{name: getattr(hyper, name) - eps}))
        np.testing.assert_allclose(getattr(grads, name), (plus - minus) / (2 * eps), rtol=1e-6)
    for i in range(3):
        e = jnp.zeros(3).at[i].set(eps)
        fd = (objective(hyper._replace(h=hyper.h + e)) - objective(hyper._replace(h=hyper.h - e))) / (2 * eps)
        np.testing.assert_allclose(grads.h[i], fd, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("velocity", ["difference", "recurrence"])
def test_reverse_pass_with_K_equal_T_is_exact_reverse_mode(velocity):
    T = 32
    w0, hyper = _toy_setup()
    loss, w_T, exact = _autodiff(train_loss, val_loss, w0, hyper, T)
    loss_K, w_T_K, grads = _checkpointed(train_loss, val_loss, w0, hyper, T, T, dm.Settings(velocity=velocity))
    np.testing.assert_allclose(w_T_K, w_T, rtol=1e-14)
    np.testing.assert_allclose(loss_K, loss, rtol=1e-14)
    _assert_hyper_close(grads, exact, rtol=1e-9)


@pytest.mark.slow
def test_reverse_pass_equals_autodiff_on_a_nonquadratic_loss_given_the_exact_trajectory():
    T = 32  # the size the next test compiles
    w0, hyper = _nonquadratic_setup(lr=0.1, gamma=0.8)
    _, _, exact = _autodiff(nonquadratic_train_loss, nonquadratic_val_loss, w0, hyper, T)
    grads = _reverse_pass_along_the_trajectory(w0, hyper, T)
    assert grads.h.shape == hyper.h.shape == (2,)
    _assert_hyper_close(grads, exact, rtol=1e-9)
    assert min(abs(float(exact.log_lr)), abs(float(exact.momentum))) > 1e-3  # a non-trivial check


@pytest.mark.slow
@pytest.mark.parametrize("K", [1, 2, 3, 7, 16])
def test_h_gradient_is_exact_for_every_K_on_the_quadratic_toy(K):
    # ∇²_w L_train = 2I and ∇_h∇_w L_train = 2I do not depend on w: dh never reads the trajectory.
    T = 32
    w0, hyper = _toy_setup()
    _, _, exact = _autodiff(train_loss, val_loss, w0, hyper, T)
    _, _, grads = _checkpointed(train_loss, val_loss, w0, hyper, T, K)
    np.testing.assert_allclose(grads.h, exact.h, rtol=1e-12)
    # ... while the learning-rate and momentum gradients, which read v_t, are wrong for K < T.
    err = dm.relative_error(grads, exact)
    assert err["log_lr"] > 1e-3 and err["momentum"] > 1e-3


@pytest.mark.slow
def test_error_does_not_grow_with_K_on_a_nonquadratic_loss():
    T = 32
    w0, hyper = _nonquadratic_setup()
    fn = partial(_checkpointed, nonquadratic_train_loss, nonquadratic_val_loss, w0, hyper, T)
    _, _, exact = _autodiff(nonquadratic_train_loss, nonquadratic_val_loss, w0, hyper, T)
    errors = [dm.relative_error(fn(K)[2], exact) for K in (1, 2, 4, 8, 16, 32)]
    for name in dm.Hyper._fields:
        series = [e[name] for e in errors]
        assert series[0] > 1e-2, (name, series)  # the linearization does cost something here
        assert all(b <= a for a, b in zip(series, series[1:])), (name, series)
        assert series[-1] < 1e-10, (name, series)


@pytest.mark.slow
def test_velocity_recurrence_amplifies_trajectory_error():
    # Alg. 2's v_{t-1} = (v_t + (1-γ) g) / γ divides by γ at every step: along DrMAD's line it
    # is far worse than reading the line's own velocity (why DrMAD's code does the latter).
    T = 100
    w0, hyper = _toy_setup(gamma=0.9)
    _, _, exact = _autodiff(train_loss, val_loss, w0, hyper, T)
    diff = dm.relative_error(_checkpointed(train_loss, val_loss, w0, hyper, T, 1)[2], exact)
    recurrence = dm.Settings(velocity="recurrence")
    rec = dm.relative_error(_checkpointed(train_loss, val_loss, w0, hyper, T, 1, recurrence)[2], exact)
    assert rec["h"] == pytest.approx(diff["h"], abs=1e-12)  # dh reads no velocity
    assert rec["log_lr"] > 10 * diff["log_lr"]


def test_reverse_pass_rejects_bad_velocity_mode():
    w0, hyper = _toy_setup()
    ckpt, _ = _checkpoints(train_loss, w0, hyper, 10, 3)  # a program the checkpoint tests compile
    step = dm.momentum_step(train_loss)
    with pytest.raises(ValueError, match="velocity"):
        reverse.reverse_pass(step, val_loss, hyper, ckpt, 10, momentum=reverse.Momentum(train_loss, velocity="exact"))
    with pytest.raises(ValueError, match="v_T"):
        rule = reverse.Momentum(train_loss, velocity="recurrence")
        reverse.reverse_pass(step, val_loss, hyper, ckpt, 10, momentum=rule)
    with pytest.raises(ValueError, match="K <= T"):
        reverse.checkpoint_times(4, 5)


# --------------------------------------------------------------------------- outer loop


def test_outer_loop_h_path_is_identical_for_every_K_when_only_h_is_tuned():
    import optax

    T, steps = 30, 25
    w0, hyper = jnp.array([1.0]), dm.Hyper(jnp.array([1.5]), jnp.log(jnp.asarray(0.2)), jnp.asarray(0.9))
    traces = {
        K: dm.outer_loop(dm.hypergrad_fn(train_loss, val_loss, T, K), w0, hyper, steps, optax.sgd(0.1), tune_lr=False)
        for K in (None, 1, 4)
    }
    ref = traces[None]
    assert ref.h.shape == (steps + 1, 1)
    np.testing.assert_allclose(ref.log_lr, np.log(0.2))  # lr untouched when not tuned
    assert float(ref.val_loss[-1]) < 1e-3 * float(ref.val_loss[0])
    for K in (1, 4):
        np.testing.assert_allclose(traces[K].h, ref.h, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(traces[K].val_loss, ref.val_loss, rtol=1e-9, atol=1e-15)
