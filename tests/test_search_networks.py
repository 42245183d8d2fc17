"""Trials count networks (canonical encodings, no repeats), the random-over-networks samplers,
constrained GP-EI, and the statistics (Holm, win/tie/loss, IGD+, bootstrap, budget regret) on hand cases."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from hyperlab.selection.analysis import fronts, regret, stats
from hyperlab.selection.samplers.gp import ConstrainedGPEISampler, GPEISampler
from hyperlab.selection.samplers.gp.constrained import log_prob_below
from hyperlab.selection.samplers.network_random import NetworkRandomSampler, layer_uniform_weights
from hyperlab.selection.space.encoding import arch_of_params, canonical_params, network_params, space_of
from hyperlab.selection.study.runner import RunSpec, run_strategy
from hyperlab.selection.study.trials import TrialsError, load_latency
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table, network_summary

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def table():
    return synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=2, seed=3, fail_rate=0.0)


# --------------------------------------------------------------------------- encoding


def test_canonical_params_and_network_params(table):
    space = space_of(table)
    a = {"n_layers": 1, "log2_units_l0": 5, "log2_units_l1": 6}
    b = {"n_layers": 1, "log2_units_l0": 5, "log2_units_l1": 4}
    assert canonical_params(a, space) == canonical_params(b, space) == b
    assert arch_of_params(a, space) == "32"
    nets = network_params(space, ["16-64", "64"])
    assert nets == [
        {"n_layers": 2, "log2_units_l0": 4, "log2_units_l1": 6},
        {"n_layers": 1, "log2_units_l0": 6, "log2_units_l1": 4},
    ]
    assert [arch_of_params(p, space) for p in nets] == ["16-64", "64"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["random_uniform", "random", "gp_ei", "gp_ei_per_second", "gp_ei_constrained"])
def test_no_network_twice_until_all_evaluated(table, strategy):
    # 12 networks, 12 trials: each exactly once; then 14 trials: only 2 repeats
    nets = network_summary(table)
    df = run_strategy(
        Table.of(table),
        RunSpec(
            strategy,
            n_trials=12,
            repeats=2,
            n_startup_trials=3,
            cost="train_time",
            budget=float(nets["latency_ms"].median()),
        ),
    )
    assert (df.groupby("repeat")["arch"].nunique() == 12).all()
    df = run_strategy(
        Table.of(table),
        RunSpec(
            strategy,
            n_trials=14,
            repeats=1,
            n_startup_trials=3,
            cost="train_time",
            budget=float(nets["latency_ms"].median()),
        ),
    )
    assert regret.repeats_per_study(df).tolist() == [2]


def test_gp_without_canonicalize_keeps_old_pool():
    # the hook is optional: without it every encoding is a point (the existing behaviour)
    def objective(trial):
        return trial.suggest_int("a", 0, 2) + 0.1 * trial.suggest_int("b", 0, 1)

    study = optuna.create_study(sampler=GPEISampler(n_startup_trials=2, seed=0))
    study.optimize(objective, n_trials=6)
    assert len({(t.params["a"], t.params["b"]) for t in study.trials}) == 6
    canon = GPEISampler(n_startup_trials=2, seed=0, canonicalize=lambda p: {**p, "b": 0 if p["a"] == 0 else p["b"]})
    study = optuna.create_study(sampler=canon)
    study.optimize(objective, n_trials=5)  # 5 canonical points: (0,0), (1,0), (1,1), (2,0), (2,1)
    keys = [(t.params["a"], 0 if t.params["a"] == 0 else t.params["b"]) for t in study.trials]
    assert len(set(keys)) == 5


def test_random_samplers_weights():
    w = layer_uniform_weights([1, 1, 2, 2, 2, 2])
    assert w.tolist() == pytest.approx([0.25, 0.25, 0.125, 0.125, 0.125, 0.125])
    nets = [{"x": i} for i in range(4)]
    with pytest.raises(ValueError, match="same key"):
        NetworkRandomSampler(nets, key=lambda p: 0)
    # uniform over networks: first draws over many seeds hit every network about equally
    firsts = []
    for seed in range(400):
        study = optuna.create_study(sampler=NetworkRandomSampler(nets, key=lambda p: p["x"], seed=seed))
        study.optimize(lambda t: t.suggest_int("x", 0, 3), n_trials=1)
        firsts.append(study.trials[0].params["x"])
    counts = np.bincount(firsts, minlength=4)
    assert counts.min() > 70


# --------------------------------------------------------------------------- constrained GP-EI


def test_log_prob_below():
    assert log_prob_below(np.array([0.0]), np.array([1.0]), 0.0)[0] == pytest.approx(np.log(0.5))
    assert log_prob_below(np.array([1.0, -1.0]), np.array([0.0, 0.0]), 0.0).tolist() == [-np.inf, 0.0]


def test_constrained_gp_prefers_feasible_points():
    # objective falls with x, the constrained quantity rises with x: the best feasible point is x = 4
    def objective(trial):
        x = trial.suggest_int("x", 0, 19)
        trial.set_user_attr("latency_ms", float(np.exp(0.3 * x)))
        return 1.0 - 0.04 * x

    budget = float(np.exp(0.3 * 4)) + 1e-9

    def feasible_share(make):
        shares = []
        for seed in range(3):
            study = optuna.create_study(sampler=make(seed))
            study.optimize(objective, n_trials=10)
            shares.append(np.mean([t.params["x"] <= 4 for t in study.trials[4:]]))
            if isinstance(study.sampler, ConstrainedGPEISampler):  # the best feasible point is found
                assert 4 in [t.params["x"] for t in study.trials]
        return np.mean(shares)

    constrained = feasible_share(lambda s: ConstrainedGPEISampler(n_startup_trials=4, seed=s, budget=budget))
    plain = feasible_share(lambda s: GPEISampler(n_startup_trials=4, seed=s))
    assert constrained > plain + 0.2
    with pytest.raises(ValueError, match="budget"):
        ConstrainedGPEISampler(budget=0.0)


# --------------------------------------------------------------------------- statistics


def test_holm_hand_computed():
    # sorted 0.01, 0.02, 0.04, 0.30 times 4, 3, 2, 1: 0.04, 0.06, 0.08, 0.30 (monotone already)
    got = stats.holm({"a": 0.02, "b": 0.01, "c": 0.30, "d": 0.04, "base": None})
    assert got == pytest.approx({"a": 0.06, "b": 0.04, "c": 0.30, "d": 0.08, "base": None})
    # monotonicity: 0.01*3 = 0.03, 0.011*2 = 0.022 -> 0.03, 0.5
    got = stats.holm({"x": 0.01, "y": 0.011, "z": 0.5})
    assert got["y"] == pytest.approx(0.03) and got["z"] == pytest.approx(0.5)
    assert stats.holm({"x": 0.6, "y": 0.7})["x"] == 1.0


def test_win_tie_loss_and_pairwise():
    assert stats.win_tie_loss(np.array([0.0, 0.1, 0.2, 0.3]), np.array([0.1, 0.1, 0.1, 0.1])) == (1, 1, 2)
    final = pd.DataFrame({"x": [0.0, 0.0, 0.1], "y": [0.1, 0.0, 0.2]})
    pw = stats.pairwise_table(final).set_index(["a", "b"])
    assert tuple(pw.loc[("x", "y"), ["wins", "ties", "losses"]]) == (2, 1, 0)
    assert tuple(pw.loc[("y", "x"), ["wins", "ties", "losses"]]) == (0, 1, 2)
    assert pw.loc[("x", "y"), "median_diff"] == pytest.approx(-0.1)
    assert pw.loc[("x", "y"), "p_holm"] == pw.loc[("y", "x"), "p_holm"] >= pw.loc[("x", "y"), "p_two_sided"]
    assert stats.paired_p(np.zeros(5), np.zeros(5)) == 1.0


def test_igd_plus_hand_computed():
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert fronts.igd_plus(front, front) == 0.0
    # found (0.5, 0.5): to (0,1): max(0.5,0)=0.5, max(-0.5,0)=0 -> 0.5; to (1,0): 0.5 -> mean 0.5
    assert fronts.igd_plus(np.array([[0.5, 0.5]]), front) == pytest.approx(0.5)
    # a point dominating the front point counts 0 (IGD+ is weakly Pareto compliant)
    assert fronts.igd_plus(np.array([[0.0, 0.0]]), front) == 0.0
    assert fronts.igd_plus(np.zeros((0, 2)), front) == np.inf


def test_bootstrap_median_ci():
    rng = np.random.default_rng(0)
    lo, hi = stats.bootstrap_median_ci(np.full(10, 0.3), 200, rng)
    assert lo == hi == 0.3
    lo, hi = stats.bootstrap_median_ci(np.arange(101.0), 500, rng)
    assert lo < 50 < hi and hi - lo < 30


def test_front_quality_and_budget_curve():
    nets = pd.DataFrame(
        {"val_error": [0.10, 0.20, 0.30, 0.35], "test_error": 0.0, "latency_ms": [3.0, 2.0, 1.0, 2.5]},
        index=pd.Index(["a", "b", "c", "d"], name="arch"),
    )
    norms = {"log": fronts.normalized_points(nets, True), "linear": fronts.normalized_points(nets, False)}
    q = fronts.front_quality({"a", "b", "c"}, nets, norms)
    assert q["front_share"] == 1.0 and q["igd_plus"] == 0.0 and q["hv_ratio_log"] == pytest.approx(1.0)
    q = fronts.front_quality({"a", "d"}, nets, norms)
    assert q["front_share"] == pytest.approx(1 / 3) and q["igd_plus"] > 0 and q["hv_ratio_linear"] < 1
    # budget 2.0 ms: feasible b, c (d is 2.5); best feasible 0.20; worst feasible regret 0.10
    trials = pd.DataFrame(
        {
            "repeat": 0,
            "trial": [0, 1, 2, 3],
            "state": "COMPLETE",
            "arch": ["a", "c", "d", "b"],
            "val_error": [0.1, 0.3, 0.1, 0.25],
        }
    )
    c = regret.budget_curve(trials, nets, 2.0)
    assert c["regret"].tolist() == pytest.approx([0.1, 0.1, 0.1, 0.0])
    assert c["n_feasible"].tolist() == [0, 1, 1, 2]
    assert regret.repeats_per_study(trials.assign(arch=["a", "a", "b", "a"])).tolist() == [2]


@pytest.mark.parametrize("strategy", ["random_uniform", "gp_ei", "gp_ei_constrained"])
def test_no_repeat_even_when_the_first_trials_fail(strategy):
    # every seed of most networks failed: the GP has no relative search space for many trials
    table = synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=1, seed=5, fail_rate=0.0)
    table.loc[table.index[:9], ["val_error", "train_error", "test_error"]] = np.nan
    table.loc[table.index[:9], "status"] = "failed"
    df = run_strategy(
        Table.of(table), RunSpec(strategy, n_trials=12, repeats=3, n_startup_trials=2, cost="train_time", budget=1.0)
    )
    assert (df["state"] == "FAIL").sum() == 27 and regret.repeats_per_study(df).tolist() == [0, 0, 0]


def test_load_latency_checks_the_file(tmp_path):
    path = tmp_path / "latency.csv"
    pd.DataFrame({"arch": ["a", "b", "a", "b"], "round": [1, 1, 2, 2], "latency_ms": [1.0, 2.0, 1.1, 2.1]}).to_csv(
        path, index=False
    )
    got = load_latency(path, ["a", "b"], 2)
    assert sorted(got) == ["round1", "round2"] and got["round2"]["b"] == 2.1
    with pytest.raises(TrialsError, match="does not time every network"):
        load_latency(path, ["a", "b", "c"], 2)
    with pytest.raises(TrialsError, match=r"has rounds \[1, 2\]; search.latency_rounds = 3 asks for rounds 1..3"):
        load_latency(path, ["a", "b"], 3)
    pd.DataFrame({"arch": ["a"], "round": [1], "latency_ms": [0.0]}).to_csv(path, index=False)
    with pytest.raises(TrialsError, match="finite number > 0"):
        load_latency(path, ["a"], 1)
    with pytest.raises(TrialsError, match="not found"):
        load_latency(tmp_path / "none.csv", ["a"], 1)
