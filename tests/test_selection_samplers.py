"""The samplers (hyperlab.selection.samplers): GP-EI, EI per second, constrained GP-EI, cost-aware TPE and random
over networks; closed forms, invariants and statistical behaviour."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from scipy import integrate
from scipy.stats import mannwhitneyu, wilcoxon

from hyperlab.selection.samplers import cost_tpe
from hyperlab.selection.samplers.cost_tpe import CostAwareTPESampler
from hyperlab.selection.samplers.gp import ConstrainedGPEISampler, GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.samplers.gp.acquisition import log_ei, log_expected_inverse_cost
from hyperlab.selection.samplers.gp.constrained import log_prob_below
from hyperlab.selection.samplers.network_random import NetworkRandomSampler, layer_uniform_weights

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.mark.parametrize("mu,sigma,best", [(0.3, 0.2, 0.1), (-1.0, 0.5, 0.0), (2.0, 1e-3, 2.0005), (0.0, 3.0, 1.0)])
def test_ei_matches_numerical_integration(mu, sigma, best):
    """EI = integral of max(best - y, 0) N(y; mu, sigma^2) dy (the samplers compute it in logs)."""
    pdf = lambda y: math.exp(-0.5 * ((y - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))  # noqa: E731
    numeric, _ = integrate.quad(lambda y: (best - y) * pdf(y), mu - 12 * sigma, best, points=[mu], limit=200)
    numeric = max(numeric, 0.0) if best > mu - 12 * sigma else 0.0
    assert math.exp(log_ei(np.array([mu]), np.array([sigma**2]), best)[0]) == pytest.approx(
        numeric, rel=1e-6, abs=1e-12
    )


def test_expected_inverse_cost_is_lognormal_mean():
    rng = np.random.default_rng(0)
    mu_c, sd_c = 0.7, 0.4
    mc = np.mean(1.0 / np.exp(rng.normal(mu_c, sd_c, 400_000)))
    assert math.exp(log_expected_inverse_cost(mu_c, sd_c)) == pytest.approx(mc, rel=5e-3)


# --------------------------------------------------------------------------- samplers on known problems

GRID = 8
OPT = (5, 2)


def _bowl(trial):
    a, b = trial.suggest_int("a", 0, GRID - 1), trial.suggest_int("b", 0, GRID - 1)
    return 0.1 * ((a - OPT[0]) ** 2 + (b - OPT[1]) ** 2) + 0.05 * math.sin(3 * a) * math.cos(2 * b) ** 2


def _trials_to_optimum(sampler, n_max=40) -> int:
    study = optuna.create_study(sampler=sampler)
    for i in range(n_max):
        study.optimize(_bowl, n_trials=1)
        if (study.trials[-1].params["a"], study.trials[-1].params["b"]) == OPT:
            return i + 1
    return n_max + 1


@pytest.mark.slow
def test_gp_ei_finds_optimum_sooner_than_random_over_many_seeds():
    """An 8 x 8 table with one optimum; 16 seeds each, compared by a rank test."""
    seeds = range(16)
    gp = [_trials_to_optimum(GPEISampler(n_startup_trials=5, seed=s)) for s in seeds]
    rnd = [_trials_to_optimum(optuna.samplers.RandomSampler(seed=s)) for s in seeds]
    assert np.median(gp) < np.median(rnd)
    assert mannwhitneyu(gp, rnd, alternative="less").pvalue < 0.01


def test_finite_space_never_resuggests_even_with_failures():
    def objective(trial):
        a, b = trial.suggest_int("a", 0, 5), trial.suggest_categorical("b", ["x", "y", "z"])
        if a == 3:
            raise ValueError("a failed configuration")
        return (a - 2) ** 2 + (b == "z")

    study = optuna.create_study(sampler=GPEISampler(n_startup_trials=3, seed=1))
    study.optimize(objective, n_trials=18, catch=(ValueError,))
    points = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert len(set(points)) == 18  # the whole space, each point once, failures included
    assert sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials) == 3


@pytest.mark.slow
@pytest.mark.parametrize("sampler_cls", [GPEISampler, GPEIPerSecondSampler])
def test_mixed_space_with_failed_and_pruned_trials_stays_in_bounds_and_improves(sampler_cls):
    def objective(trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 8, 256, log=True)
        q = trial.suggest_float("q", 0.0, 1.0, step=0.25)
        act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
        trial.set_user_attr("cost", 1.0 + units / 64)
        if x > 1.5:
            raise ValueError("fails")
        if x < -1.5:
            raise optuna.TrialPruned()
        return (x - 0.5) ** 2 + (math.log10(lr) + 2) ** 2 + (math.log2(units) - 5) ** 2 / 10 + q + (act != "tanh")

    bests = []
    for seed in range(4):
        study = optuna.create_study(sampler=sampler_cls(n_startup_trials=5, seed=seed))
        study.optimize(objective, n_trials=30, catch=(ValueError,))
        for t in study.trials:
            p = t.params
            assert -2 <= p["x"] <= 2 and 1e-4 <= p["lr"] <= 1e-1 and 8 <= p["units"] <= 256
            assert type(p["units"]) is int and type(p["x"]) is float and type(p["lr"]) is float
            assert p["q"] in (0.0, 0.25, 0.5, 0.75, 1.0) and p["act"] in ("relu", "tanh", "gelu")
        assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 30  # failed points never repeat
        complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert min(complete) < min(complete[:5])  # the model-based phase improved on the random start
        bests.append(min(complete))
    assert np.median(bests) < 1.0  # found act == "tanh" (a step of 1) and more


def test_degenerate_fits_do_not_crash():
    """Constant values, one point, duplicates: the study runs on, in bounds, without repeats."""
    study = optuna.create_study(sampler=GPEISampler(n_startup_trials=1, seed=0))
    study.optimize(lambda t: 1.0 + 0 * t.suggest_int("a", 0, 9), n_trials=10)
    assert sorted(t.params["a"] for t in study.trials) == list(range(10))

    study = optuna.create_study(sampler=GPEIPerSecondSampler(n_startup_trials=1, seed=0))
    study.enqueue_trial({"x": 0.5})
    study.enqueue_trial({"x": 0.5})

    def flat(t):
        t.set_user_attr("cost", 2.0)
        return 3.0 + 0 * t.suggest_float("x", 0, 1)

    study.optimize(flat, n_trials=6)
    assert all(0 <= t.params["x"] <= 1 for t in study.trials)


def _late_log_cost(make_sampler, seeds, n_trials=20):
    """Objective almost flat in x (symmetric), cost exp(0.3 x): mean log cost of the trials after startup.

    EI barely tells the x values apart, so the cost decides where EI per second goes.
    """

    def objective(trial):
        x = trial.suggest_int("x", -10, 10)
        y = trial.suggest_int("y", -3, 3)
        trial.set_user_attr("cost", math.exp(0.3 * x))
        return 0.001 * x * x + 0.1 * y * y

    out = []
    for s in seeds:
        study = optuna.create_study(sampler=make_sampler(s))
        study.optimize(objective, n_trials=n_trials)
        out.append(np.mean([math.log(t.user_attrs["cost"]) for t in study.trials[6:]]))
    return np.array(out)


@pytest.mark.slow
def test_ei_per_second_sampler_picks_cheaper_points_than_ei():
    """Paired by seed (both share the random startup): the per-second runs spend less per trial."""
    seeds = range(12)
    ps = _late_log_cost(lambda s: GPEIPerSecondSampler(n_startup_trials=6, seed=s), seeds)
    plain = _late_log_cost(lambda s: GPEISampler(n_startup_trials=6, seed=s), seeds)
    assert np.median(ps - plain) < 0
    assert wilcoxon(ps, plain, alternative="less").pvalue < 0.02


def test_ei_per_second_sampler_takes_the_cheaper_of_two_equal_ei_points():
    """x = -1, 0, 1 observed with values symmetric in x: EI(-2) == EI(2) by symmetry, cost e^x."""

    def make(cls, seed):
        study = optuna.create_study(sampler=cls(n_startup_trials=3, seed=seed))
        for x, value in ((-1, 1.0), (0, 0.5), (1, 1.0)):
            study.enqueue_trial({"x": x})
            study.optimize(
                lambda t, v=value: (t.set_user_attr("cost", math.exp(t.suggest_int("x", -2, 2))), v)[1], n_trials=1
            )
        trial = study.ask()
        return trial.suggest_int("x", -2, 2)

    assert {make(GPEIPerSecondSampler, s) for s in range(6)} == {-2}
    assert {make(GPEISampler, s) for s in range(6)} == {-2, 2}  # a tie, broken at random


# --------------------------------------------------------------------------- cost-aware TPE


def test_cost_tpe_private_api_is_the_pinned_one():
    assert optuna.__version__ in cost_tpe.TESTED_OPTUNA
    cost_tpe.check_private_api()  # raises if the overridden methods changed


def test_cost_tpe_pin_check_catches_a_changed_signature(monkeypatch):
    def changed(self, samples, mpe_below, mpe_above, extra):
        raise AssertionError

    monkeypatch.setattr(optuna.samplers.TPESampler, "_compute_acquisition_func", changed)
    with pytest.raises(RuntimeError, match="_compute_acquisition_func"):
        CostAwareTPESampler(seed=0)


def _tpe_objective(trial):
    a = trial.suggest_int("a", 0, 7)
    b = trial.suggest_float("b", -1, 1)
    trial.set_user_attr("cost", 1.0 + a)
    return (a - 3) ** 2 * 0.05 + b * b


def test_cost_tpe_with_zero_cost_term_is_exactly_tpe():
    """The hook sits on TPE's sampling path and changes nothing else."""
    calls = []

    class ZeroCost(CostAwareTPESampler):
        def _fit_cost_term(self, study, search_space):
            def term(samples):
                calls.append(1)
                return np.zeros(len(next(iter(samples.values()))))

            return term

    a = optuna.create_study(sampler=ZeroCost(n_startup_trials=4, seed=5))
    a.optimize(_tpe_objective, n_trials=14)
    b = optuna.create_study(sampler=optuna.samplers.TPESampler(n_startup_trials=4, seed=5))
    b.optimize(_tpe_objective, n_trials=14)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert len(calls) == 10  # one acquisition call per model-based trial


@pytest.mark.slow
def test_cost_tpe_chooses_cheaper_configurations():
    def late_cost(make):
        out = []
        for s in range(8):
            st = optuna.create_study(sampler=make(s))
            st.optimize(_tpe_objective, n_trials=25)
            out.append(np.mean([t.user_attrs["cost"] for t in st.trials[8:]]))
        return np.array(out)

    aware = late_cost(lambda s: CostAwareTPESampler(n_startup_trials=8, seed=s))
    plain = late_cost(lambda s: optuna.samplers.TPESampler(n_startup_trials=8, seed=s))
    assert np.median(aware) < np.median(plain)
    assert mannwhitneyu(aware, plain, alternative="less").pvalue < 0.05


# --------------------------------------------------------------------------- networks as points, random over networks


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


def test_random_samplers_weigh_depths_equally_and_draw_networks_uniformly():
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


def test_log_prob_below_is_the_normal_log_cdf_and_a_step_at_zero_sigma():
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


# --------------------------------------------------------------------------- seeds


def test_seeded_first_trials_differ_in_a_continuous_space():
    study = optuna.create_study(sampler=GPEISampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=4)
    xs = [t.params["x"] for t in study.trials]
    assert len(set(xs)) == 4


def test_same_seed_same_trials():
    def run():
        study = optuna.create_study(sampler=GPEISampler(n_startup_trials=3, seed=7))
        study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=8)
        return [t.params["x"] for t in study.trials]

    assert run() == run()
