"""The ``hpo_scale`` study: the families map h as documented, every hypergradient against central
differences or exact reverse mode on a small instance of every family, the reverse pass's guard,
every method improves on h0, the verdict logic, and the stage end to end on tiny params."""

from __future__ import annotations

import functools
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
from hyperlab.bilevel import reverse
from hyperlab.hpo import budget, gradient, methods, scale_verdict
from hyperlab.hpo import problem as sm
from hyperlab.hpo import scale_experiment as se
from hyperlab.hpo.families import make_family
from hyperlab.hpo.names import FAMILIES
from hyperlab.hpo.problem import Data

SIZES, T = (7, 4, 3), 6
BOXES = dict(l2_box=(-8.0, 1.0), lr_box=(0.01, 2.0), l2_0=-3.0, lr0=0.3)


@pytest.fixture(autouse=True)
def _x64():
    """float64 for the test, then the setting the test found (not a constant: the next test must not inherit ours)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield  # pytest runs the rest even when the test fails
    jax.config.update("jax_enable_x64", previous)


def _tiny(dtype=jnp.float64, n=30, seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)

    def split():
        return jnp.asarray(rng.normal(size=(n, sizes[0])), dtype), jnp.asarray(rng.integers(0, sizes[-1], n), jnp.int32)

    tree, w0 = sm.initial_weights(sizes, seed)
    cast = lambda x: x.astype(dtype)  # noqa: E731
    return Data(*split(), *split(), *split()), jax.tree_util.tree_map(cast, tree), cast(w0)


def _problem(**changes):
    """The ``hpo`` section with the test's boxes, h0 and T (and ``changes``)."""
    return config.parse_section(config.SECTIONS["hpo"], {"T": T, **BOXES, **changes}, "hpo")


def _family(name, knots=3):
    tree, _ = sm.initial_weights(SIZES, 0)
    return make_family(name, tree, _problem(), knots)


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def test_family_dimensions_for_the_studys_network():
    # a family reads only the shapes of the weights: no need to draw 12,700 of them
    tree = jax.eval_shape(lambda: sm.initial_weights((784, 16, 10), 0)[0])
    problem = _problem(T=80, l2_box=(-12, 0), l2_0=-6.0, lr0=0.1)
    dims = {n: make_family(n, tree, problem, 8).dim for n in FAMILIES}
    assert dims == {"layer": 3, "knots": 18, "unit": 27, "schedule": 162, "input": 795, "weight": 12_705}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_maps_h0_to_the_hpo_problems_h0(name):
    """Same L2 on every kernel weight (none on biases) and the same learning rate at every step."""
    fam, (tree, _) = _family(name), sm.initial_weights(SIZES, 0)
    kernels = np.concatenate([np.ravel(x) * 0 + (k == "kernel") for k, x in _leaves(tree)]).astype(bool)

    @jax.jit  # one program for c(h0) and every step's learning rate, not one per operation
    def at_h0(h):
        return fam.l2(h), [fam.lr(h, jnp.asarray(t)) for t in range(T)]

    c, lrs = at_h0(jnp.asarray(fam.h0, jnp.float64))
    c = np.asarray(c)
    assert np.allclose(c[kernels], math.exp(BOXES["l2_0"])) and np.all(c[~kernels] == 0)
    for lr in lrs:
        assert np.allclose(np.asarray(lr), BOXES["lr0"])
    assert np.all(fam.low <= fam.h0) and np.all(fam.h0 <= fam.high) and len(fam.low) == fam.dim


def _leaves(tree):
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(path[-1].key, x) for path, x in flat]


def test_the_layer_family_steps_are_gradient_descent_with_a_per_layer_l2():
    """Φ(w, h, t) = w − exp(h_lr) (∇CE_train(w) + exp(h_layer) w on kernels), written out by hand."""
    data, tree, w0 = _tiny()
    fam, h = _family("layer"), jnp.asarray([-2.0, -4.0, math.log(0.5)])
    _, unravel = ravel_pytree(tree)
    kernels = np.concatenate([np.ravel(x) * 0 + (k == "kernel") for k, x in _leaves(tree)]).astype(bool)
    layer = np.concatenate([np.full(np.size(x), int(path[0].key[-1])) for path, x in _paths(tree)])
    coef = np.where(kernels, np.exp(np.asarray(h)[layer]), 0.0)

    @jax.jit  # both sides in one program (eagerly, every operation compiles its own)
    def step_and_by_hand(data, w0, h):
        def ce(w):
            return sm.cross_entropy(sm.forward(unravel(w), data.x_train), data.y_train)

        p = sm.inner(fam, data, tree)
        return p.step(w0, h, jnp.asarray(0)), w0 - 0.5 * (jax.grad(ce)(w0) + coef * w0)

    step, by_hand = step_and_by_hand(data, w0, h)
    np.testing.assert_allclose(step, by_hand, rtol=1e-12, atol=1e-14)


def _paths(tree):
    return jax.tree_util.tree_flatten_with_path(tree)[0]


def _random_h(fam, seed=1, spread=0.5):
    rng = np.random.default_rng(seed)
    return jnp.asarray(np.clip(fam.h0 + rng.normal(0, spread, fam.dim), fam.low, fam.high), jnp.float64)


@pytest.fixture(scope="module")
def exact_of():
    """``name -> (f, g, steps)``: the exact hypergradient (``gradient.hypergradient(..., "exact")``, jitted) of the
    family at :func:`_random_h` on :func:`_tiny`, computed once for the module: it is the oracle of several tests."""
    cache: dict[str, tuple] = {}

    def get(name):
        if name not in cache:
            data, tree, w0 = _tiny()
            fam = _family(name)
            cache[name] = jax.jit(gradient.hypergradient(fam, T, "exact"))(data, tree, w0, _random_h(fam))
        return cache[name]

    return get


@pytest.mark.parametrize("name", FAMILIES)
def test_exact_hypergradient_matches_central_differences_on_every_family(name, exact_of):
    data, tree, w0 = _tiny()
    fam = _family(name)
    h = np.asarray(_random_h(fam))
    f = jax.jit(sm.objective(fam, T))
    _, g, steps = exact_of(name)
    eps, rng = 1e-5, np.random.default_rng(2)
    dirs = np.eye(fam.dim) if fam.dim <= 40 else rng.normal(size=(6, fam.dim))
    # h ± eps v in numpy (the same float64 sums): eagerly in JAX each shape would compile a program
    fd = np.array(
        [
            (float(f(data, tree, w0, jnp.asarray(h + eps * v))) - float(f(data, tree, w0, jnp.asarray(h - eps * v))))
            / (2 * eps)
            for v in dirs
        ]
    )
    assert _rel(dirs @ np.asarray(g), fd) < 1e-6 and int(steps) == T


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_reverse_pass_along_every_iterate_is_exact_and_fewer_pieces_approximate(name, exact_of):
    data, tree, w0 = _tiny()
    fam = _family(name)

    @jax.jit  # both passes in one program (eagerly, every operation around the scans compiles its own)
    def passes(data, tree, w0, h):
        p = sm.inner(fam, data, tree)
        return [reverse.checkpointed_hypergrad(p.step, p.val, w0, h, T, K)[1] for K in (T, 1)]

    full, drmad = passes(data, tree, w0, _random_h(fam))
    g_exact = exact_of(name)[1]  # reverse.exact_hypergrad, jitted
    assert _rel(full.grad, g_exact) < 1e-10 and int(full.steps) == T
    assert 1e-8 < _rel(drmad.grad, g_exact) < 1.0  # an approximation, pointing the same way


def test_lookahead_over_all_steps_from_w0_is_exact(exact_of):
    data, tree, w0 = _tiny()
    fam = _family("schedule")

    @jax.jit
    def lookahead(data, tree, w0, h):
        p = sm.inner(fam, data, tree)
        return reverse.lookahead_hypergrad(p.step, p.val, w0, h, jnp.asarray(0), T)[1]

    g = lookahead(data, tree, w0, _random_h(fam))
    g_exact = exact_of("schedule")[1]  # reverse.exact_hypergrad, jitted
    assert _rel(g, g_exact) < 1e-12


def test_ift_matches_exact_where_the_inner_run_has_converged():
    """Logistic regression with L2 (strongly convex), many steps: w_T is the inner optimum and IFT is
    the exact L2 gradient."""
    data, tree, w0 = _tiny(sizes=(7, 3))
    fam = make_family("unit", tree, _problem(T=400, l2_0=-1.0))
    h = jnp.asarray(fam.h0, jnp.float64)
    _, g_exact, _ = jax.jit(gradient.hypergradient(fam, 400, "exact"))(data, tree, w0, h)
    _, g_ift, _ = jax.jit(gradient.hypergradient(fam, 400, "ift", cg_maxiter=200))(data, tree, w0, h)
    l2 = ~fam.is_lr
    assert _rel(np.asarray(g_ift)[l2], np.asarray(g_exact)[l2]) < 1e-6


@pytest.mark.slow
def test_guard_stops_a_diverging_reverse_pass_and_leaves_a_sane_one_unchanged():
    data, tree, w0 = _tiny()
    fam = _family("layer")

    # the guard's bound as a traced argument: on (MAX_GROWTH) and off (inf) are one program per (T, K)
    @functools.partial(jax.jit, static_argnames=("T", "K"))
    def guarded(data, tree, w0, h, max_growth, T, K):
        p = sm.inner(fam, data, tree)
        return reverse.checkpointed_hypergrad(p.step, p.val, w0, h, T, K, max_growth=max_growth)[1]

    def run(h, T, K, max_growth=reverse.MAX_GROWTH):
        return guarded(data, tree, w0, h, jnp.asarray(max_growth, jnp.float64), T=T, K=K)

    sane = jnp.asarray([-3.0, -3.0, math.log(0.3)])
    for K in (1, 2):
        on, off = run(sane, T, K), run(sane, T, K, math.inf)
        assert np.array_equal(on.grad, off.grad) and int(on.steps) == T
    # a learning rate far past stability: the interpolated pass overflows without the guard
    wild = jnp.asarray([-8.0, -8.0, math.log(60.0)])
    off, on = run(wild, 40, 1, math.inf), run(wild, 40, 1)
    assert not np.all(np.isfinite(off.grad)) or np.linalg.norm(off.grad) > 1e6 * np.linalg.norm(on.grad)
    assert np.all(np.isfinite(on.grad)) and 0 <= int(on.steps) < 40


TINY_SCALE = {
    "knots": 2,
    "order": 2,
    "pieces": 2,
    "cg_maxiter": 5,
    "n_startup_trials": 2,
    "optuna_max_dim": 30,
    "cma_full_max_dim": 30,
    "seeds": 2,
    "compute_budget": 144,
    "step_budget": 48,
    "check_points": 2,
    "fd_max_dim": 30,
    "fd_directions": 2,
}
TINY_PROBLEM = {"hidden": [4], "n_train": 60, "T": 6}


@pytest.mark.slow
def test_every_method_improves_on_h0_on_the_schedule_family():
    data, tree, w0 = _tiny(jnp.float32, n=60)
    params = config.parse_section(config.SECTIONS["hpo_scale"], {**TINY_SCALE, "step_budget": 120}, "hpo_scale")
    problem = config.parse_section(config.SECTIONS["hpo"], {**TINY_PROBLEM, "T": T, "lr0": 0.3, "l2_0": -3.0}, "hpo")
    for name in ("schedule",):  # the layer family's methods improve on h0 in the hpo stage's end-to-end test
        fam = make_family(name, tree, problem, 2)
        pieces = methods.Pieces(fam, T, se.settings(params))
        for method in params.methods:
            label = se.method_label(method, params)
            trace = budget.run_budget(pieces.rounds(label, 0, data, tree, w0), seconds=0.0, steps=120)
            best, h = trace.best_within(steps=120)
            assert best < trace.value[0], (name, method)
            assert np.all(h >= fam.low - 1e-6) and np.all(h <= fam.high + 1e-6), (name, method)


def _summary(rows):
    return pd.DataFrame(
        [
            {
                "family": f,
                "dim": d,
                "method": m,
                "side": scale_verdict._side(m),
                "ran": True,
                "val_loss": v,
                "val_loss_q1": v - 0.01,
                "val_loss_q3": v + 0.01,
                "test_error": 0.1,
            }
            for f, d, m, v in rows
        ]
    )


@pytest.mark.parametrize(
    "values, dim",
    [
        ({3: (0.5, 0.4), 30: (0.4, 0.45), 300: (0.3, 0.5)}, 30),  # (hypergradient, search): search wins at 3 only
        ({3: (0.5, 0.4), 30: (0.4, 0.45), 300: (0.6, 0.5)}, None),  # search wins again at the top: no crossover
        ({3: (0.3, 0.4), 30: (0.3, 0.45), 300: (0.3, 0.5)}, 3),
    ],
)
def test_crossover_is_the_dimension_from_which_hypergradients_always_win(values, dim):
    rows = []
    for d, (g, s) in values.items():
        rows += [
            (f"f{d}", d, "exact", g),
            (f"f{d}", d, "kpiece4", g + 0.05),
            (f"f{d}", d, "tpe", s),
            (f"f{d}", d, "random", s + 0.1),
        ]
    out = scale_verdict.crossover(_summary(rows))
    assert out["dim"] == dim
    assert (dim is None) == ("no crossover up to d = 300" in out["statement"])
    verdicts = scale_verdict.verdicts(_summary(rows))
    assert [v["dim"] for v in verdicts] == sorted(values)
    assert all(v["best_hypergradient"]["method"] == "exact" and v["best_search"]["method"] == "tpe" for v in verdicts)


def test_bad_params_are_one_line(tmp_path):
    for raw, key in (({"families": ["layers"]}, "hpo_scale.families"), ({"methods": ["bobyqa"]}, "hpo_scale.methods")):
        with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")) as err:
            config.parse_section(config.SECTIONS["hpo_scale"], raw, "hpo_scale")
        assert "\n" not in str(err.value)
    proc = run_stage("hpo_scale", tmp_path, {"hpo": {"T": 10}, "hpo_scale": {"order": 10}}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: hpo_scale.order: got 10; must be <= 9 (hpo.T = 10)"
    )
    assert not (tmp_path / "metrics").exists()


@pytest.mark.slow
def test_stage_end_to_end_and_figures(tmp_path, mnist_npz):
    (tmp_path / "data").mkdir()
    shutil.copy(mnist_npz, tmp_path / "data" / "mnist.npz")
    families = ["layer", "unit"]  # the per-pixel family has its own tests above; two dimensions suffice here
    scale = {**TINY_SCALE, "families": families, "optuna_max_dim": 10, "fd_max_dim": 10}
    run_stage("hpo_scale", tmp_path, {"seed": 0, "hpo": TINY_PROBLEM, "hpo_scale": scale})
    metrics = json.loads((tmp_path / "metrics/hpo_scale.json").read_text())
    assert set(metrics) == {"crossover_dim_test_error"}
    report = json.loads((tmp_path / "plots/hpo_scale/report.json").read_text())
    assert report["headline_view"] == "compute" and set(report["views"]) == {"compute", "steps"}
    for view, (runs_csv, summary_csv) in se.TABLES.items():
        summary = pd.read_csv(tmp_path / "plots/hpo_scale" / summary_csv)
        assert list(summary["dim"].unique()) == [3, 15]  # (784-4-10): 2 + 1, 4 + 10 + 1
        skipped = summary[~summary["ran"]]
        assert set(zip(skipped["family"], skipped["method"])) == {("unit", "gp_ei"), ("unit", "tpe")}
        assert skipped["why_not"].str.contains("optuna_max_dim = 10").all()
        ran = summary[summary["ran"]]
        assert np.isfinite(ran[["val_loss", "test_error"]].to_numpy(float)).all()
        assert (ran["val_loss"] <= ran["initial_val_loss"] + 1e-6).all()
        runs = pd.read_csv(tmp_path / "plots/hpo_scale" / runs_csv)
        ran_runs = runs[runs["ran"]]
        assert len(ran_runs) == len(ran) * 2
        # every run kept within its view's budget, and spent most of it
        if view == "compute":
            assert (ran_runs["compute"] <= 144 + 1e-9).all()
            search = ran_runs[ran_runs["method"].isin(["random", "cmaes", "hesbo", "tpe", "gp_ei"])]
            assert (search["evaluations"] == 144 // 6).all() and (search["reverse_steps"] == 0).all()
        else:
            assert (ran_runs["forward_steps"] <= 48).all()
        verdicts = report["views"][view]["verdicts"]
        assert [v["dim"] for v in verdicts] == [3, 15]
        assert set(report["views"][view]["paired"]["crossover"]) == {"val_loss", "test_loss", "test_error"}
    crossover = report["views"]["compute"]["paired"]["crossover"]
    assert metrics == {"crossover_dim_test_error": crossover["test_error"]["dim"]}
    # a descent step is charged its reverse pass: exact reaches fewer outer steps under equal compute
    both = {v: pd.read_csv(tmp_path / "plots/hpo_scale" / se.TABLES[v][0]).query("method == 'exact'") for v in se.VIEWS}
    assert (both["compute"]["evaluations"].to_numpy() < both["steps"]["evaluations"].to_numpy()).all()
    acc = pd.read_csv(tmp_path / "plots/hpo_scale/hypergrad_accuracy.csv")
    fd = acc[acc["method"] == "central_differences"]
    assert (fd[fd["point"] == 0]["rel_err"] < 1e-5).all()  # float64 exact against float64 differences at h0
    assert list(fd["compared"].unique()) == ["all", "2 directions"]
    run_stage("figures", tmp_path, {"figures": {"dpi": 40}}, "hpo_scale")
    assert sorted(p.name for p in (tmp_path / "plots/figures/hpo_scale").iterdir()) == [
        "hpo_scale_hypergrad_error.png",
        "hpo_scale_vs_dim.png",
    ]
