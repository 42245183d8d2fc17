"""Hypernetwork best responses (Lorraine & Duvenaud 2018) on L_train = |h + w|^2, L_val = |w|^2."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config
from hyperlab.bilevel import hypernet as H

KEYS = jax.random.split(jax.random.key(0), 3)
GLOBAL = H.GlobalSettings(low=-2.0, high=2.0, h0=1.5, batch=32, phi_steps=600, phi_lr=0.05, h_steps=100, h_lr=0.1)
LOCAL = H.LocalSettings(h0=1.5, sigma=0.5, batch=32, steps=600, phi_lr=0.03, h_lr=0.1)


def _seeds(run: H.Run, i: int):
    return jax.tree_util.tree_map(lambda a: a[i], run.phi)


@pytest.fixture(scope="module")
def global_linear():
    net = H.make_hypernet("linear")
    return net, H.run_seeds("global", net, KEYS, GLOBAL)


def test_phi_objective_and_hypergradient_match_closed_forms():
    net = H.make_hypernet("linear")
    phi = {"params": {"affine": {"kernel": jnp.array([[0.3]]), "bias": jnp.array([0.2])}}}
    hs = jnp.array([[-1.0], [0.5], [2.0]])
    # w = a h + b, so L_train(w, h) = ((a + 1) h + b)^2 and L_val(w(h)) = (a h + b)^2.
    expected = np.mean((1.3 * np.array([-1.0, 0.5, 2.0]) + 0.2) ** 2)
    np.testing.assert_allclose(H.phi_objective(net, phi, hs), expected, rtol=1e-6)
    h = jnp.array([0.7])
    grad = jax.grad(H.outer_objective, argnums=2)(net, phi, h)
    np.testing.assert_allclose(grad, [2 * (0.3 * 0.7 + 0.2) * 0.3], rtol=1e-6)


@pytest.mark.slow
def test_linear_global_hypernet_recovers_best_response(global_linear):
    net, run = global_linear
    affine = run.phi["params"]["affine"]
    np.testing.assert_allclose(affine["kernel"][:, 0, 0], -1.0, atol=1e-3)  # A = -1
    np.testing.assert_allclose(affine["bias"][:, 0], 0.0, atol=1e-3)  # b = 0
    for i in range(len(KEYS)):
        assert float(H.rms_error(net, _seeds(run, i), -2.0, 2.0)) < 1e-3
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
    run = H.run_seeds("global", net, KEYS[:2], GLOBAL._replace(phi_lr=0.03, phi_steps=800))
    for i in range(2):
        phi = _seeds(run, i)
        assert float(H.rms_error(net, phi, -2.0, 2.0)) < 0.03
        # h descends onto the MLP's own zero of w_phi, so it lands within the fit error of 0.
        assert abs(float(run.h_path[i, -1, 0])) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_local_variant_follows_h_hat(kind):
    net = H.make_hypernet(kind, hidden=(32, 32))
    probe = jnp.linspace(-3.0, 3.0, 61)[:, None]
    run = H.run_seeds("local", net, KEYS[:2], LOCAL, probe=probe)
    assert run.h_path.shape == (2, LOCAL.steps + 1, 1) and run.probe_path.shape == (2, LOCAL.steps + 1, 61, 1)
    h_path, w_path = np.asarray(run.h_path[..., 0]), np.asarray(run.w_path[..., 0])
    np.testing.assert_allclose(h_path[:, 0], 1.5)
    assert np.all(np.abs(h_path[:, -1]) < 0.02)  # h_hat reached the optimum h = 0
    # Once phi has caught up, the hypernet is right *at the current h_hat* all along the path.
    late = slice(LOCAL.steps // 2, None)
    assert np.max(np.abs(w_path[:, late] + h_path[:, late])) < 0.05
    for i in range(2):
        phi, h_final = _seeds(run, i), float(h_path[i, -1])
        near = float(H.rms_error(net, phi, h_final - LOCAL.sigma, h_final + LOCAL.sigma))
        assert near < 0.02
        # probe_path's last row is the final curve.
        np.testing.assert_allclose(run.probe_path[i, -1], H.response_curve(net, phi, probe), atol=1e-6)
        if kind == "mlp":
            # ...and only there: far from every sampled h the MLP is free to be wrong.
            assert float(H.rms_error(net, phi, -3.0, 3.0)) > 3 * near


def test_unknown_kind_and_variant_raise():
    with pytest.raises(ValueError, match="unknown hypernetwork kind 'conv'"):
        H.make_hypernet("conv")
    with pytest.raises(ValueError, match="unknown variant 'joint'"):
        H.run_seeds("joint", H.make_hypernet("linear"), KEYS, LOCAL)


@pytest.mark.parametrize(
    "raw, key, words",
    [
        ({"sigma": 0}, "hypernet.sigma", "must be >= 0.0001"),
        ({"sigma": -0.5}, "hypernet.sigma", "must be >= 0.0001"),
        ({"h_range": [2.0, -2.0]}, "hypernet.h_range", "low < high"),
        ({"h_range": [1.0, 1.0]}, "hypernet.h_range", "low < high"),
        ({"h_range": [0.0, 1.0, 2.0]}, "hypernet.h_range", "low < high"),
        ({"kinds": ["conv"]}, "hypernet.kinds", "allowed: linear, mlp"),
        ({"kinds": ["mlp", "mlp"]}, "hypernet.kinds", "must not repeat"),
        ({"variants": ["joint"]}, "hypernet.variants", "allowed: global, local"),
        ({"hidden": [32, 0]}, "hypernet.hidden", "must be >= 1"),
        ({"local_steps": 0}, "hypernet.local_steps", "must be >= 1"),
        ({"batch": 1.5}, "hypernet.batch", "must be integer"),
        ({"sigmaa": 0.5}, "hypernet.sigmaa", "unknown key"),
    ],
)
def test_bad_params_are_rejected(raw, key, words):
    with pytest.raises(config.ConfigError) as err:
        config.parse_section(config.HypernetParams, raw, "hypernet")
    message = str(err.value)
    assert message.startswith(f"params.yaml: {key}:") and words in message and "\n" not in message


TINY = {
    "kinds": ["linear", "mlp"],
    "variants": ["global", "local"],
    "hidden": [8],
    "h_range": [-1.0, 1.0],
    "h0": 0.8,
    "sigma": 0.3,
    "batch": 16,
    "phi_lr": 0.1,
    "h_lr": 0.1,
    "global_phi_steps": 300,
    "global_h_steps": 50,
    "local_steps": 200,
    "n_seeds": 2,
}


@pytest.mark.slow
def test_stage_end_to_end(tmp_path, monkeypatch):
    run_stage("hypernet", tmp_path, {"seed": 3, "hypernet": TINY})
    metrics = json.loads((tmp_path / "plots" / "hypernet" / "report.json").read_text())
    assert metrics["n_seeds"] == 2 and metrics["h_range"] == [-1.0, 1.0]
    for name in ("global_linear", "global_mlp", "local_linear", "local_mlp"):
        m = metrics[name]
        assert {"rms_range", "rms_near_h", "final_h", "l_val", "l_val_true", "steps_to_tol"} <= set(m)
        assert m["rms_range_max"] >= m["rms_range"] >= 0
        assert m["l_val_true"] >= m["final_h"] ** 2 * (1 - 1e-6)  # mean of h^2 >= (mean h)^2
        curve = pd.read_csv(tmp_path / "plots" / "hypernet" / "curves" / f"{name}.csv")
        np.testing.assert_allclose(curve["w_star"], -curve["h"], rtol=1e-6)
        assert curve["h"].min() == -1.5 and curve["h"].max() == 1.5  # the range padded by a quarter
        path = pd.read_csv(tmp_path / "plots" / "hypernet" / "paths" / f"{name}.csv")
        assert path["h_hat"].iloc[0] == pytest.approx(0.8)
        assert len(path) == (51 if name.startswith("global") else 201)
        np.testing.assert_allclose(path["l_val"], path["w_phi_h_hat"] ** 2, rtol=1e-5)
        assert abs(path["h_hat"].iloc[-1]) < 0.1
    assert metrics["global_linear"]["A"] == pytest.approx(-1.0, abs=1e-2)
    assert abs(metrics["global_linear"]["b"]) < 1e-2
    assert metrics["global_linear"]["rms_range"] < 1e-2
    # The global curve is sampled on exactly the range; the local one around the final h_hat.
    curve = pd.read_csv(tmp_path / "plots" / "hypernet" / "curves" / "global_mlp.csv")
    assert curve.loc[curve["sampled"] == 1, "h"].between(-1.0, 1.0).all()

    # Figures from that plot data.
    from hyperlab.plotting import hypernet as plotting

    monkeypatch.chdir(tmp_path)
    written = plotting.render(config.FiguresParams(dpi=40))
    assert {p.name for p in written} == {
        "hypernet_surfaces_global.png",
        "hypernet_surfaces_local.png",
        "hypernet_response.png",
        "hypernet_local_tracking.png",
    }
    assert all((tmp_path / p).stat().st_size > 1000 for p in written)

    # Same params, same metrics; a run dropped from params leaves no plot data behind.
    small = {**TINY, "kinds": ["linear"], "variants": ["global"]}
    run_stage("hypernet", tmp_path, {"seed": 3, "hypernet": small})
    again = json.loads((tmp_path / "plots" / "hypernet" / "report.json").read_text())
    assert again["global_linear"] == metrics["global_linear"]
    assert "local_mlp" not in again
    left = sorted(
        p.relative_to(tmp_path / "plots" / "hypernet").as_posix()
        for p in (tmp_path / "plots" / "hypernet").rglob("*.csv")
    )
    assert left == ["curves/global_linear.csv", "paths/global_linear.csv", "phi_loss/global_linear.csv"]


def test_stage_rejects_bad_params_before_work(tmp_path):
    proc = run_stage("hypernet", tmp_path, {"hypernet": {**TINY, "sigma": 0}}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: params.yaml: hypernet.sigma: got 0; must be >= 0.0001"
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "plots").exists()
