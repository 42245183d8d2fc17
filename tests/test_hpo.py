"""The ``hpo`` stage: every hypergradient against finite differences or its known relation, every
method improves on h0, and the stage end to end on tiny params."""

from __future__ import annotations

import json
import math
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree

from conftest import run_stage
from hyperlab import config
from hyperlab.hpo import budget, experiment, gradient
from hyperlab.hpo.cost import Cost
from hyperlab.hpo.families import coordinate_names, make_family
from hyperlab.hpo.problem import Data, init_weights, objective


@pytest.fixture(autouse=True)
def _x64():
    """float64 for the test, then the setting the test found (not a constant: the next test must not inherit ours)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield  # pytest runs the rest even when the test fails
    jax.config.update("jax_enable_x64", previous)


def _tiny(sizes=(12, 5, 3), T=15, tune_lr=True, n=40, seed=0):
    """Random data, the seed's float64 weights and the ``layer`` family of a small network."""
    rng = np.random.default_rng(seed)

    def split(m):
        return jnp.asarray(rng.normal(size=(m, sizes[0]))), jnp.asarray(rng.integers(0, sizes[-1], m), jnp.int32)

    data = Data(*split(n), *split(n), *split(n))
    raw = {"T": T, "tune_lr": tune_lr, "lr0": 0.3, "l2_box": [-8.0, 2.0], "lr_box": [0.01, 2.7], "l2_0": -2.0}
    tree = init_weights(sizes, jax.random.PRNGKey(seed), jnp.float64)
    family = make_family("layer", tree, config.parse_section(config.SECTIONS["hpo"], raw, "hpo"))
    return family, data, tree, ravel_pytree(tree)[0]


def _grad(family, T, how, data, tree, w0, h, **kw):
    """The hypergradient, jitted: one program (eagerly, every operation around the scans compiles its own)."""
    return jax.jit(gradient.hypergradient(family, T, how, **kw))(data, tree, w0, jnp.asarray(h))[1]


def _fd(family, T, data, tree, w0, h, eps=1e-5):
    jitted = jax.jit(objective(family, T))  # compiled once for all 2 d evaluations
    f = lambda hh: float(jitted(data, tree, w0, hh))  # noqa: E731
    return np.array([(f(h + e) - f(h - e)) / (2 * eps) for e in np.eye(len(h)) * eps])


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


H = np.array([-2.0, -1.0, math.log(0.3)])


@pytest.fixture(scope="module")
def exact_at_H():
    """``(f, g, steps)`` of exact reverse mode at H on :func:`_tiny` (T = 15), jitted and computed once for the
    module: the oracle of several tests (under their float64)."""
    cache: list = []

    def get():
        if not cache:
            fam, data, tree, w0 = _tiny()
            cache.append(jax.jit(gradient.hypergradient(fam, 15, "exact"))(data, tree, w0, jnp.asarray(H)))
        return cache[0]

    return get


@pytest.mark.slow
def test_exact_reverse_mode_matches_central_differences(exact_at_H):
    fam, data, tree, w0 = _tiny()
    f, g, steps = exact_at_H()
    assert float(f) == pytest.approx(float(jax.jit(objective(fam, 15))(data, tree, w0, jnp.asarray(H))), rel=1e-12)
    assert _rel(g, _fd(fam, 15, data, tree, w0, H)) < 1e-6 and int(steps) == 15


@pytest.mark.slow
def test_kpiece_with_K_equal_T_is_exact_and_drmad_is_an_approximation(exact_at_H):
    fam, data, tree, w0 = _tiny()
    g = exact_at_H()[1]
    g_T = _grad(fam, 15, "kpiece", data, tree, w0, H, pieces=15)
    g_1 = _grad(fam, 15, "drmad", data, tree, w0, H)
    assert _rel(g_T, g) < 1e-9  # the oracle is the stored trajectory itself
    assert 1e-6 < _rel(g_1, g) < 1.0  # a straight line: close, not exact, on a non-quadratic loss


@pytest.mark.slow
def test_truncation_of_all_T_steps_is_exact_and_fewer_steps_see_less(exact_at_H):
    fam, data, tree, w0 = _tiny()
    g = exact_at_H()[1]
    assert _rel(_grad(fam, 15, "truncated", data, tree, w0, H, order=15), g) < 1e-9
    # fewer steps see less of the trajectory, so the gradient shrinks toward the last steps' share
    assert np.linalg.norm(_grad(fam, 15, "truncated", data, tree, w0, H, order=1)) < np.linalg.norm(g)


@pytest.mark.slow
def test_ift_matches_exact_on_a_converged_strongly_convex_inner_problem():
    # logistic regression with a strong L2: T steps converge, and d w_T / d lambda -> the IFT derivative
    fam, data, tree, w0 = _tiny(sizes=(12, 3), T=600, tune_lr=False)
    h = np.array([0.0])  # L2 coefficient 1
    g = _grad(fam, 600, "exact", data, tree, w0, h)
    assert _rel(_grad(fam, 600, "ift", data, tree, w0, h, cg_maxiter=200), g) < 1e-6
    assert _rel(g, _fd(fam, 600, data, tree, w0, h)) < 1e-6
    # and far from converged (few steps) the IFT hypergradient is not the one of f
    g3 = _grad(fam, 3, "exact", data, tree, w0, h)
    assert _rel(_grad(fam, 3, "ift", data, tree, w0, h, cg_maxiter=200), g3) > 1e-2


def test_run_budget_spends_both_budgets_and_reads_prefixes():
    ticks = iter(range(100))
    rounds = (budget.Round(Cost(10, 10), np.array([float(i)]), 5.0 - i) for i in range(100))
    trace = budget.run_budget(rounds, seconds=3, steps=50, clock=lambda: float(next(ticks)))
    assert trace.steps[-1] >= 50 and trace.wall[-1] >= 3
    # the fake clock ticks once per read and is read twice per round: round i ends at wall 2i + 1
    assert trace.wall[:3] == [1.0, 3.0, 5.0]
    value, h = trace.best_within(steps=20)
    assert value == 4.0 and h.tolist() == [1.0]
    assert trace.best_within(seconds=2)[0] == 5.0 and trace.best_within(seconds=3)[0] == 4.0


TINY = {
    "hidden": [4],
    "n_train": 100,
    "T": 10,
    "orders": [1, 2],
    "seeds": 1,
    "budget_seconds": 0.01,
    "step_budget": 200,
    "check_points": 2,
    "online_every": 2,
    "pieces": 2,
    "n_startup_trials": 3,
    "lr0": 0.05,
    "l2_0": -4.0,
    "hypernet_every": 5,
}


def test_bad_params_are_one_line():
    for raw, key in (
        ({"orders": [1, 20], "T": 10}, "hpo.orders"),
        ({"lr0": 5.0}, "hpo.lr0"),
        ({"l2_box": [0.0, -1.0]}, "hpo.l2_box"),
        ({"methods": ["adam"]}, "hpo.methods"),
    ):
        with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")) as err:
            config.parse_section(config.SECTIONS["hpo"], raw, "hpo")
        assert "\n" not in str(err.value)


def test_stage_rejects_bad_params_in_one_line(tmp_path):
    proc = run_stage("hpo", tmp_path, {"hpo": {"T": 10, "orders": [1, 20]}}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: params.yaml: hpo.orders: got 20")
    assert not (tmp_path / "metrics").exists()


@pytest.mark.slow
def test_stage_end_to_end_every_method_improves_on_the_initial_h_and_figures(tmp_path, mnist_npz):
    """Every method, on tiny params and two seeds, ends below the initial h's validation loss with its
    h inside the boxes; the tables, the headline metrics and the figures follow from the runs."""
    (tmp_path / "data").mkdir()
    shutil.copy(mnist_npz, tmp_path / "data" / "mnist.npz")
    run_stage("hpo", tmp_path, {"seed": 0, "hpo": {**TINY, "seeds": 2}})
    params = config.parse_section(config.SECTIONS["hpo"], TINY, "hpo")
    names = experiment.method_names(params)
    assert names == ["online1", "online2", "exact", "drmad", "kpiece2", "ift", "hypernet", "gp_ei", "tpe", "random"]
    runs = pd.read_csv(tmp_path / "plots/hpo/runs.csv")
    assert len(runs) == len(names) * 2 and set(runs["method"]) == set(names)
    for _, run in runs.iterrows():
        assert run["val_loss"] < run["initial_val_loss"], (run["method"], run["seed"])
    fam = experiment.make_pieces(params).family
    h = runs[coordinate_names(fam)].to_numpy()
    assert np.all(h >= fam.low - 1e-6) and np.all(h <= fam.high + 1e-6)
    summary = pd.read_csv(tmp_path / "plots/hpo/summary.csv")
    assert list(summary["method"]) == names
    assert np.isfinite(summary[["val_loss", "test_error"]].to_numpy()).all()
    metrics = json.loads((tmp_path / "metrics/hpo.json").read_text())
    med = summary.set_index("method")["val_loss"]
    assert metrics == pytest.approx({"exact_val_loss": med["exact"], "tpe_val_loss": med["tpe"]})
    acc = pd.read_csv(tmp_path / "plots/hpo/hypergrad_accuracy.csv")
    assert acc[acc.method == "exact"]["rel_err"].eq(0).all()
    run_stage("figures", tmp_path, {"figures": {"dpi": 40}}, "hpo")
    assert sorted(p.name for p in (tmp_path / "plots/figures/hpo").iterdir()) == [
        "hpo_best.png",
        "hpo_h_paths.png",
        "hpo_hypergrad_error.png",
    ]


def test_headline_metrics_are_the_headline_methods_that_ran():
    report = {"summary": [{"method": "exact", "val_loss": 0.5}, {"method": "random", "val_loss": 0.6}]}
    assert experiment.headline(report) == {"exact_val_loss": 0.5}
    report["summary"].append({"method": "tpe", "val_loss": 0.4})
    assert experiment.headline(report) == {"exact_val_loss": 0.5, "tpe_val_loss": 0.4}


@pytest.mark.parametrize(
    "a, b",
    [
        (np.array([np.nan, np.nan, np.nan]), np.array([0.1, 0.2, -0.4])),  # a diverged method (drmad at lr 1.26)
        (np.array([1.0, np.inf, 0.0]), np.array([0.1, 0.2, -0.4])),
        (np.zeros(3), np.array([0.1, 0.2, -0.4])),  # no direction at all
    ],
)
def test_a_hypergradient_without_direction_has_a_nan_cosine_all_the_way_to_the_files(tmp_path, a, b):
    """Never 0.0 ("orthogonal"): the CSV cell stays empty (NaN), report.json says null, a mean skips nothing."""
    assert math.isnan(gradient.cosine(a, b)) and math.isnan(gradient.cosine(b, a))
    assert gradient.cosine(b, 2 * b) == pytest.approx(1.0) and gradient.cosine(b, -b) == pytest.approx(-1.0)
    from hyperlab import io

    rows = pd.DataFrame({"method": ["drmad", "exact"], "cosine": [gradient.cosine(a, b), gradient.cosine(b, b)]})
    io.write_csv(tmp_path / "hypergrad_accuracy.csv", rows)
    back = pd.read_csv(tmp_path / "hypergrad_accuracy.csv")
    assert math.isnan(back.cosine[0]) and back.cosine[1] == pytest.approx(1.0)
    assert math.isnan(back.cosine.mean(skipna=False))  # an aggregate over the NaN is NaN, not a lowered mean
    io.write_json(tmp_path / "report.json", {"accuracy": rows.to_dict(orient="records")})
    assert json.loads((tmp_path / "report.json").read_text())["accuracy"][0]["cosine"] is None
