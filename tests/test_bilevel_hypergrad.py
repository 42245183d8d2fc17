"""n-order and exact hypergradients and the outer loop (hyperlab.bilevel.hypergrad), against the closed forms of
hyperlab.bilevel.closed_form and finite differences."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hyperlab.bilevel import closed_form, hypergrad, toy

ETA = 0.1

# The losses, the step size and the order static: one program per order and shape, shared by the tests
# that ask for it (the closed-form and finite-difference cases both use dim 5), instead of a few eager
# programs per call.
unrolled_hypergrad = jax.jit(hypergrad.unrolled_hypergrad, static_argnums=(0, 1), static_argnames=("lr", "order"))


def _rand(seed: int, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def _numpy_unrolled_val(w, h, n, eta):
    """L_val after n GD steps on |h + w|^2, written without JAX (independent of the code under test)."""
    for _ in range(n):
        w = w - eta * 2.0 * (w + h)
    return float(np.sum(w**2))


def _central_diff(f, h, eps):
    grad = np.zeros_like(h)
    for i in range(h.size):
        e = np.zeros_like(h)
        e.flat[i] = eps
        grad.flat[i] = (f(h + e) - f(h - e)) / (2 * eps)
    return grad


@pytest.mark.parametrize("dim", [1, 5])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_unrolled_hypergrad_matches_finite_differences(order, dim):
    w, h = _rand(order, dim), _rand(100 + order, dim)
    with jax.enable_x64(True):
        g = unrolled_hypergrad(toy.train_loss, toy.val_loss, jnp.asarray(w), jnp.asarray(h), lr=ETA, order=order)
        fd = _central_diff(lambda hh: _numpy_unrolled_val(w, hh, order, ETA), h, 1e-4)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_unrolled_hypergrad_on_a_nonquadratic_pytree_problem():
    """Generic code: dict pytrees, non-quadratic losses, masked (traced-order) unroll."""

    def train_loss(w, h):
        return (
            jnp.sum((w["a"] - jnp.tanh(h["s"])) ** 2)
            + 0.25 * jnp.sum(w["b"] ** 4)
            + jnp.sum(jnp.exp(h["s"][0]) * w["b"] ** 2)
        )

    def val_loss(w, h):
        return jnp.sum(jnp.sin(w["a"])) + jnp.sum((w["b"] - 0.3) ** 2) + 0.1 * jnp.sum(h["s"] ** 2)

    with jax.enable_x64(True):
        w = {"a": jnp.asarray(_rand(1, 3)), "b": jnp.asarray(_rand(2, 2, 2))}
        h = {"s": jnp.asarray(_rand(3, 3))}
        # Each computation is one jitted program (one per order; the masked one serves both orders)
        # instead of a few eager programs per call: the finite differences call the unroll 12 times.
        masked_fn = jax.jit(
            lambda n: hypergrad.unrolled_hypergrad(train_loss, val_loss, w, h, lr=0.05, order=n, max_order=6)
        )
        for order in (1, 4):
            g = jax.jit(
                lambda h, order=order: hypergrad.unrolled_hypergrad(train_loss, val_loss, w, h, lr=0.05, order=order)
            )(h)
            masked = masked_fn(order)
            unrolled_val = jax.jit(
                lambda s, order=order: val_loss(hypergrad.unroll(train_loss, w, {"s": s}, 0.05, order), {"s": s})
            )

            def f(s, unrolled_val=unrolled_val):
                return float(unrolled_val(jnp.asarray(s)))

            fd = _central_diff(f, np.asarray(h["s"]), 1e-5)
            np.testing.assert_allclose(np.asarray(g["s"]), fd, rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(np.asarray(masked["s"]), np.asarray(g["s"]), rtol=1e-12)


@pytest.mark.parametrize("order", range(8))
def test_unrolled_hypergrad_equals_the_closed_form(order):
    """g_n(w, h) = 2 b_n^2 h - 2 b_n a^n w with a = 1 - 2 eta, b_n = 1 - a^n (closed_form.py)."""
    w, h = _rand(7, 5), _rand(8, 5)
    with jax.enable_x64(True):
        g = unrolled_hypergrad(toy.train_loss, toy.val_loss, jnp.asarray(w), jnp.asarray(h), lr=ETA, order=order)
    np.testing.assert_allclose(np.asarray(g), closed_form.hypergrad(w, h, order, ETA), rtol=1e-10, atol=1e-12)
    # On the best-response line the order only rescales the exact hypergradient 2h by b_n.
    b_n = closed_form.step_factor(order, ETA)
    assert b_n == pytest.approx(1 - 0.8**order)
    np.testing.assert_allclose(closed_form.hypergrad(-h, h, order, ETA), b_n * 2 * h, rtol=1e-12)


def test_order_zero_is_exactly_zero_and_h_never_moves():
    w, h = jnp.asarray(_rand(1, 3), jnp.float32), jnp.asarray(_rand(2, 3), jnp.float32)
    g = unrolled_hypergrad(toy.train_loss, toy.val_loss, w, h, lr=ETA, order=0)
    assert np.array_equal(np.asarray(g), np.zeros(3))
    rec = hypergrad.run_orders(
        toy.train_loss,
        toy.val_loss,
        w,
        h,
        [0, 2],
        outer_opt=optax.adam(0.1),
        inner_lr=ETA,
        inner_steps=1,
        outer_steps=30,
    )
    assert np.array_equal(np.asarray(rec.h[0]), np.broadcast_to(np.asarray(h), (31, 3)))
    assert np.all(np.asarray(rec.hypergrad_norm[0]) == 0)
    assert not np.allclose(np.asarray(rec.h[1, -1]), np.asarray(h))


@pytest.mark.slow
def test_ift_hypergrad_is_exact():
    with jax.enable_x64(True):
        # Each hypergradient is one jitted program (not a few eager programs per op, CG's loop included).
        h = jnp.asarray(_rand(4, 6))
        g = jax.jit(lambda h: hypergrad.ift_hypergrad(toy.train_loss, toy.val_loss, toy.best_response(h), h))(h)
        np.testing.assert_allclose(np.asarray(g), 2 * np.asarray(h), rtol=1e-10)
        # The n-order hypergradient tends to it as n grows (b_n -> 1, a^n -> 0), from any w.
        g_long = unrolled_hypergrad(toy.train_loss, toy.val_loss, jnp.asarray(_rand(5, 6)), h, lr=ETA, order=200)
        np.testing.assert_allclose(np.asarray(g_long), 2 * np.asarray(h), rtol=1e-10)

        # A non-toy problem with a direct h term: w*(h) = 2 tanh(h) / 3 solves 2(w - tanh h) + w = 0.
        def train_loss(w, h):
            return jnp.sum((w["a"] - jnp.tanh(h)) ** 2) + 0.5 * jnp.sum(w["a"] ** 2)

        def val_loss(w, h):
            return jnp.sum((w["a"] - 0.2) ** 2) + 0.01 * jnp.sum(h**2)

        hh = jnp.asarray(_rand(6, 4))
        w_star = {"a": 2 * jnp.tanh(hh) / 3}
        g = jax.jit(partial(hypergrad.ift_hypergrad, train_loss, val_loss))(w_star, hh)
        expected = 2 * (w_star["a"] - 0.2) * (2 / 3) * (1 - jnp.tanh(hh) ** 2) + 0.02 * hh
        np.testing.assert_allclose(np.asarray(g), np.asarray(expected), rtol=1e-9)


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.0), ("momentum", 0.9)])
def test_outer_loop_follows_the_closed_form_linear_dynamics(optimizer, momentum):
    """With SGD / heavy ball on h the whole run is (h, w, m)_t = M_n^t (h, w, m)_0, per coordinate."""
    w0, h0 = _rand(11, 2), _rand(12, 2)
    orders, steps, lr, k = [0, 1, 3], 25, 0.15, 2
    with jax.enable_x64(True):
        rec = hypergrad.run_orders(
            toy.train_loss,
            toy.val_loss,
            jnp.asarray(w0),
            jnp.asarray(h0),
            orders,
            outer_opt=hypergrad.outer_optimizer(optimizer, lr),
            inner_lr=ETA,
            inner_steps=k,
            outer_steps=steps,
        )
    for i, n in enumerate(orders):
        m = closed_form.outer_matrix(n, ETA, lr, k, momentum)
        state = np.stack([h0, w0, np.zeros(2)])
        for t in range(steps + 1):
            np.testing.assert_allclose(np.asarray(rec.h[i, t]), state[0], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(np.asarray(rec.w[i, t]), state[1], rtol=1e-9, atol=1e-12)
            state = m @ state


def test_every_order_from_one_converges_to_h_zero_in_several_dimensions():
    dim = 5
    w0, h0 = jnp.asarray(_rand(21, dim), jnp.float32), jnp.asarray(_rand(22, dim), jnp.float32)
    orders = [0, 1, 2, 3, 4, 5]
    rec = hypergrad.run_orders(
        toy.train_loss,
        toy.val_loss,
        w0,
        h0,
        orders,
        outer_opt=optax.sgd(0.2),
        inner_lr=ETA,
        inner_steps=1,
        outer_steps=150,
    )
    h_final = np.linalg.norm(np.asarray(rec.h[:, -1]), axis=1)
    val_final = np.asarray(rec.val_loss[:, -1])
    assert h_final[0] == pytest.approx(np.linalg.norm(np.asarray(h0)))
    assert np.all(h_final[1:] < 1e-3), h_final
    assert np.all(val_final[1:] < 1e-6), val_final
    # Higher order, faster: the closed-form contraction rate decreases with n, and so does |h| at the end.
    rates = [closed_form.rate(n, ETA, 0.2, 1) for n in orders]
    assert rates[0] == pytest.approx(1.0) and all(np.diff(rates) < 0)
    assert np.all(np.diff(h_final[1:]) < 0)
