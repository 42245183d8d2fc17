"""Hypernetwork best responses (hyperlab.bilevel.hypernet; Lorraine & Duvenaud 2018) on the toy problem
L_train = |h + w|^2, L_val = |w|^2."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.bilevel import hypernet as H

KEYS = jax.random.split(jax.random.key(0), 3)
GLOBAL = H.GlobalSettings(low=-2.0, high=2.0, h0=1.5, batch=32, phi_steps=600, phi_lr=0.05, h_steps=100, h_lr=0.1)
LOCAL = H.LocalSettings(h0=1.5, sigma=0.5, batch=32, steps=600, phi_lr=0.03, h_lr=0.1)

# The library's evaluations jitted (the network static; it hashes by its fields): one program per network
# and shape, shared by every test, instead of one per eager op.
rms_error = jax.jit(H.rms_error, static_argnums=0)
response_curve = jax.jit(H.response_curve, static_argnums=0)


def _numpy(run: H.Run) -> H.Run:
    """The run's arrays in NumPy: the same numbers, indexed without a small XLA program per slice and shape."""
    return jax.tree_util.tree_map(np.asarray, run)


def _seeds(run: H.Run, i: int):
    return jax.tree_util.tree_map(lambda a: a[i], run.phi)


@pytest.fixture(scope="module")
def global_linear():
    net = H.make_hypernet("linear")
    return net, _numpy(H.run_seeds("global", net, KEYS, GLOBAL))


def test_phi_objective_and_hypergradient_match_closed_forms():
    net = H.make_hypernet("linear")
    phi = {"params": {"affine": {"kernel": jnp.array([[0.3]]), "bias": jnp.array([0.2])}}}
    hs = jnp.array([[-1.0], [0.5], [2.0]])
    # w = a h + b, so L_train(w, h) = ((a + 1) h + b)^2 and L_val(w(h)) = (a h + b)^2.
    expected = np.mean((1.3 * np.array([-1.0, 0.5, 2.0]) + 0.2) ** 2)
    np.testing.assert_allclose(jax.jit(H.phi_objective, static_argnums=0)(net, phi, hs), expected, rtol=1e-6)
    h = jnp.array([0.7])
    grad = jax.jit(jax.grad(H.outer_objective, argnums=2), static_argnums=0)(net, phi, h)
    np.testing.assert_allclose(grad, [2 * (0.3 * 0.7 + 0.2) * 0.3], rtol=1e-6)


@pytest.mark.slow
def test_linear_global_hypernet_recovers_best_response(global_linear):
    net, run = global_linear
    affine = run.phi["params"]["affine"]
    np.testing.assert_allclose(affine["kernel"][:, 0, 0], -1.0, atol=1e-3)  # A = -1
    np.testing.assert_allclose(affine["bias"][:, 0], 0.0, atol=1e-3)  # b = 0
    for i in range(len(KEYS)):
        assert float(rms_error(net, _seeds(run, i), -2.0, 2.0)) < 1e-3
    # With w_phi = w*, L_val(w_phi(h)) = h^2 and SGD contracts h by (1 - 2 h_lr) per step.
    np.testing.assert_allclose(run.h_path[:, -1, 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(run.h_path[:, 1, 0], 1.5 * (1 - 2 * 0.1), atol=2e-3)
    loss = np.asarray(run.phi_loss)
    assert np.all(loss[:, -50:].mean(1) < 1e-6 * loss[:, :10].mean(1))  # the phi objective reached ~0


def test_runs_are_deterministic(global_linear):
    net, run = global_linear
    again = H.run_seeds("global", net, KEYS, GLOBAL)
    np.testing.assert_array_equal(run.h_path, again.h_path)
    np.testing.assert_array_equal(run.phi_loss, again.phi_loss)


@pytest.mark.slow
def test_mlp_global_hypernet_fits_the_range():
    net = H.make_hypernet("mlp", hidden=(32, 32))
    run = _numpy(H.run_seeds("global", net, KEYS[:2], GLOBAL._replace(phi_lr=0.03, phi_steps=800)))
    for i in range(2):
        phi = _seeds(run, i)
        assert float(rms_error(net, phi, -2.0, 2.0)) < 0.03
        # h descends onto the MLP's own zero of w_phi, so it lands within the fit error of 0.
        assert abs(float(run.h_path[i, -1, 0])) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_local_variant_follows_h_hat(kind):
    net = H.make_hypernet(kind, hidden=(32, 32))
    probe = jnp.linspace(-3.0, 3.0, 61)[:, None]
    run = _numpy(H.run_seeds("local", net, KEYS[:2], LOCAL, probe=probe))
    assert run.h_path.shape == (2, LOCAL.steps + 1, 1) and run.probe_path.shape == (2, LOCAL.steps + 1, 61, 1)
    h_path, w_path = np.asarray(run.h_path[..., 0]), np.asarray(run.w_path[..., 0])
    np.testing.assert_allclose(h_path[:, 0], 1.5)
    assert np.all(np.abs(h_path[:, -1]) < 0.02)  # h_hat reached the optimum h = 0
    # Once phi has caught up, the hypernet is right *at the current h_hat* all along the path.
    late = slice(LOCAL.steps // 2, None)
    assert np.max(np.abs(w_path[:, late] + h_path[:, late])) < 0.05
    for i in range(2):
        phi, h_final = _seeds(run, i), float(h_path[i, -1])
        near = float(rms_error(net, phi, h_final - LOCAL.sigma, h_final + LOCAL.sigma))
        assert near < 0.02
        # probe_path's last row is the final curve.
        np.testing.assert_allclose(run.probe_path[i, -1], response_curve(net, phi, probe), atol=1e-6)
        if kind == "mlp":
            # ...and only there: far from every sampled h the MLP is free to be wrong.
            assert float(rms_error(net, phi, -3.0, 3.0)) > 3 * near


def test_unknown_kind_and_variant_raise():
    with pytest.raises(ValueError, match="unknown hypernetwork kind 'conv'"):
        H.make_hypernet("conv")
    with pytest.raises(ValueError, match="unknown variant 'joint'"):
        H.run_seeds("joint", H.make_hypernet("linear"), KEYS, LOCAL)
