"""The accelerator policy (hyperlab.backend): full float32 matmuls, no preallocation, latency on the CPU."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab import backend
from hyperlab.training.timing import TIMING_PLATFORM, on_timing_device


def _train(x, w):
    """A few float32 gradient steps of a tanh layer: matmuls forward and backward."""

    def loss(w):
        return jnp.mean(jnp.tanh(x @ w) ** 2)

    for _ in range(5):
        w = w - 0.5 * jax.grad(loss)(w)
    return w


def _problem():
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    return jax.random.normal(kx, (256, 300)), jax.random.normal(kw, (300, 64)) * 0.05


def test_configure_fixes_the_precision_and_leaves_a_users_preallocation_choice(monkeypatch):
    monkeypatch.setenv(backend.PRECISION_ENV, "bfloat16")  # the user's: overridden, a verdict must not move
    monkeypatch.setenv(backend.PREALLOCATE_ENV, "true")  # the user's: kept
    previous = jax.config.jax_default_matmul_precision
    try:
        jax.config.update("jax_default_matmul_precision", "bfloat16")
        backend.configure()
        assert jax.config.jax_default_matmul_precision == backend.MATMUL_PRECISION == "highest"
    finally:
        jax.config.update("jax_default_matmul_precision", previous)
    assert (os.environ[backend.PRECISION_ENV], os.environ[backend.PREALLOCATE_ENV]) == (
        "highest",
        "true",
    )
    monkeypatch.delenv(backend.PREALLOCATE_ENV)
    backend.configure()
    assert os.environ[backend.PREALLOCATE_ENV] == "false"


def test_describe_names_the_default_backend():
    assert backend.describe().startswith(f"{jax.default_backend()} (")


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a claim about XLA:CPU")
def test_on_the_cpu_full_precision_is_what_xla_does_anyway():
    # why the policy leaves every committed (CPU) result unchanged: bit for bit the same programs' output
    x, w = _problem()
    with jax.default_matmul_precision("highest"):
        highest = np.asarray(jax.jit(_train)(x, w))
    with jax.default_matmul_precision("default"):
        default = np.asarray(jax.jit(_train)(x, w))
    assert np.array_equal(highest, default)


@pytest.mark.gpu
def test_on_a_gpu_the_policy_matches_the_cpu_and_latency_stays_on_the_cpu():
    x, w = _problem()
    cpu = jax.devices("cpu")[0]
    on_cpu = np.asarray(jax.jit(_train)(jax.device_put(x, cpu), jax.device_put(w, cpu)))
    with jax.default_matmul_precision(backend.MATMUL_PRECISION):
        on_gpu = np.asarray(jax.jit(_train)(x, w))
    # TF32 (10 mantissa bits) would be off by ~1e-3 relative; full float32 agrees to rounding
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-5, atol=1e-6)
    variables, batch = on_timing_device([{"w": np.ones((3, 2), np.float32)}], np.ones((4, 3), np.float32))
    assert {d.platform for d in batch.devices()} == {TIMING_PLATFORM}
    assert {d.platform for leaf in jax.tree.leaves(variables) for d in leaf.devices()} == {TIMING_PLATFORM}


def test_the_tests_xla_flags_are_all_read():
    """XLA reads ``XLA_FLAGS`` up to the first word that does not start with ``--`` and ignores the rest
    without a word: every flag the tests set must be a ``--`` word, or the flags after it do nothing."""
    from conftest import XLA_TEST_FLAGS

    assert XLA_TEST_FLAGS and all(flag.startswith("--") and " " not in flag for flag in XLA_TEST_FLAGS)
    if os.environ["XLA_FLAGS"] == " ".join(XLA_TEST_FLAGS):  # not when a user's own XLA_FLAGS came first
        assert "--xla_cpu_use_fusion_emitters=false" in os.environ["XLA_FLAGS"].split()
