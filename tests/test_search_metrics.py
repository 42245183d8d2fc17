"""Regret, cumulative cost, hypervolume and Pareto front against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optuna._hypervolume import compute_hypervolume

from hyperlab.selection import fronts, regret
from hyperlab.selection.benchmark import NetworkFailed, TableObjective
from hyperlab.selection.synthetic import synthetic_table
from hyperlab.selection.table import network_summary


def test_hypervolume_2d_hand_computed():
    # staircase (1,3), (2,2), (3,1) under reference (4,4): 3*1 + 2*1 + 1*1 = 6; (3,3) is dominated
    pts = np.array([[2, 2], [1, 3], [3, 1], [3, 3]])
    assert fronts.hypervolume_2d(pts, np.array([4.0, 4.0])) == pytest.approx(6.0)
    # a point beyond the reference adds nothing; an empty set has none
    assert fronts.hypervolume_2d(np.array([[5.0, 0.0]]), np.array([4.0, 4.0])) == 0.0
    assert fronts.hypervolume_2d(np.zeros((0, 2)), np.array([1.0, 1.0])) == 0.0


def test_hypervolume_2d_matches_optuna():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pts = rng.random((int(rng.integers(1, 30)), 2))
        ref = np.array([1.1, 1.1])
        assert fronts.hypervolume_2d(pts, ref) == pytest.approx(compute_hypervolume(pts, ref), rel=1e-12)


def test_pareto_mask():
    pts = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [1, 6]])
    assert fronts.pareto_mask(pts).tolist() == [True, True, False, True, True, False]  # duplicates both kept
    pts = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2.5], [1, 6]])
    assert fronts.pareto_mask(pts).tolist() == [True, True, True, False, False, False]
    assert fronts.pareto_mask(np.zeros((0, 2))).tolist() == []


def _nets():
    return pd.DataFrame({"val_error": [0.10, 0.20, 0.30], "test_error": [0.11, 0.21, 0.31],
                         "latency_ms": [3.0, 2.0, 1.0]}, index=pd.Index(["a", "b", "c"], name="arch"))


def test_regret_uses_observed_incumbent_but_true_error():
    truth = regret.table_truth(_nets())
    trials = pd.DataFrame({"repeat": 0, "trial": [0, 1, 2, 3],
                           "state": ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"],
                           "arch": ["a", "c", "b", "a"],
                           # a noisy draw makes b look best at trial 2; a's draw at trial 3 is worse
                           "val_error": [np.nan, 0.30, 0.05, 0.12], "cost": [0.0, 1.0, 2.0, 3.0]})
    c = regret.trial_curves(trials, truth)
    assert c["regret"].tolist() == pytest.approx([0.2, 0.2, 0.1, 0.1])  # before any success: worst regret
    assert c["cum_cost"].tolist() == [0.0, 1.0, 3.0, 6.0]
    assert c["hv_ratio"].iloc[-1] == pytest.approx(1.0)  # the whole table was evaluated
    assert c["hv_ratio"].iloc[0] == 0.0 and 0 < c["hv_ratio"].iloc[1] < c["hv_ratio"].iloc[2] < 1
    assert c["incumbent"].tolist() == ["", "c", "b", "b"] and c["test_error"].iloc[-1] == pytest.approx(0.21)


def test_regret_at_cost_holds_final_value_and_starts_at_worst():
    curves = pd.DataFrame({"repeat": 0, "trial": [1, 2], "regret": [0.2, 0.05], "cum_cost": [1.0, 3.0]})
    got = regret.regret_at_cost(curves, np.array([0.5, 1.0, 2.0, 3.0, 10.0]), worst=0.9)
    assert got.tolist() == [[0.9, 0.2, 0.2, 0.05, 0.05]]


def test_first_reaching_and_ranks():
    curves = pd.DataFrame({"repeat": [0, 0, 1, 1], "trial": [1, 2, 1, 2], "regret": [0.2, 0.0, 0.3, 0.3],
                           "cum_cost": [1.0, 4.0, 2.0, 5.0]})
    r = regret.first_reaching(curves, 0.0)
    assert r["trials"].tolist() == [2.0, np.inf] and r["cost"].tolist() == [4.0, np.inf]
    final = pd.DataFrame({"x": [0.1, 0.2], "y": [0.2, 0.2], "z": [0.3, 0.1]})
    # repeat 0: ranks 1, 2, 3; repeat 1: x and y tie at 2.5, z is 1
    assert regret.mean_ranks(final).to_dict() == {"x": 1.75, "y": 2.25, "z": 2.0}


def test_table_objective_draws_stored_seeds_and_fails_failed_rows():
    import optuna

    table = synthetic_table(layers=(1,), widths=(16, 32), n_seeds=3, fail_rate=0.0)
    table.loc[(table["arch"] == "16") & (table["seed"] == 1), ["status", "val_error"]] = ["failed", np.nan]
    nets = network_summary(table)
    assert nets.loc["16", "n_ok"] == 2
    obj = TableObjective(table, seed=0, repeat=0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(obj, n_trials=40, catch=(NetworkFailed,))
    for t in study.trials:
        rows = table[(table["arch"] == t.user_attrs["arch"]) & (table["seed"] == t.user_attrs["row_seed"])]
        assert len(rows) == 1
        if t.state.name == "COMPLETE":
            assert t.value == rows["val_error"].item() and t.user_attrs["cost"] == rows["latency_ms"].item()
        else:
            assert rows["status"].item() == "failed"
    assert {t.user_attrs["row_seed"] for t in study.trials} == {0, 1, 2}
    assert any(t.state.name == "FAIL" for t in study.trials)
