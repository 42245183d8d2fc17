"""The analysis of searches (hyperlab.selection.analysis): regret, cumulative cost, hypervolume, Pareto front,
IGD+, Holm, win/tie/loss and bootstrap intervals, and compare() on two strategies, against hand-computed cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from optuna._hypervolume import compute_hypervolume

from hyperlab.selection.analysis import fronts, regret, stats


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


def test_pareto_mask_keeps_non_dominated_points_and_their_duplicates():
    pts = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [1, 6]])
    assert fronts.pareto_mask(pts).tolist() == [True, True, False, True, True, False]  # duplicates both kept
    pts = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2.5], [1, 6]])
    assert fronts.pareto_mask(pts).tolist() == [True, True, True, False, False, False]
    assert fronts.pareto_mask(np.zeros((0, 2))).tolist() == []


def _nets():
    return pd.DataFrame(
        {"val_error": [0.10, 0.20, 0.30], "test_error": [0.11, 0.21, 0.31], "latency_ms": [3.0, 2.0, 1.0]},
        index=pd.Index(["a", "b", "c"], name="arch"),
    )


def test_regret_uses_observed_incumbent_but_true_error():
    truth = regret.table_truth(_nets())
    trials = pd.DataFrame(
        {
            "repeat": 0,
            "trial": [0, 1, 2, 3],
            "state": ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"],
            "arch": ["a", "c", "b", "a"],
            # a noisy draw makes b look best at trial 2; a's draw at trial 3 is worse
            "val_error": [np.nan, 0.30, 0.05, 0.12],
            "cost": [0.0, 1.0, 2.0, 3.0],
        }
    )
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


def test_first_reaching_and_mean_ranks_hand_computed():
    curves = pd.DataFrame(
        {
            "repeat": [0, 0, 1, 1],
            "trial": [1, 2, 1, 2],
            "regret": [0.2, 0.0, 0.3, 0.3],
            "cum_cost": [1.0, 4.0, 2.0, 5.0],
        }
    )
    r = regret.first_reaching(curves, 0.0)
    assert r["trials"].tolist() == [2.0, np.inf] and r["cost"].tolist() == [4.0, np.inf]
    final = pd.DataFrame({"x": [0.1, 0.2], "y": [0.2, 0.2], "z": [0.3, 0.1]})
    # repeat 0: ranks 1, 2, 3; repeat 1: x and y tie at 2.5, z is 1
    assert regret.mean_ranks(final).to_dict() == {"x": 1.75, "y": 2.25, "z": 2.0}


# --------------------------------------------------------------------------- compare(), two strategies by hand


#: the hand-built table's four one-layer networks, called a, b, c, d below
NAMES = {"a": "16", "b": "32", "c": "64", "d": "128"}


def _hand_table(nets: pd.DataFrame):
    """A one-seed table of the one-layer networks ``nets`` (index: a..d) whose rows hold exactly their truth."""
    from hyperlab.selection.space.encoding import Space
    from hyperlab.selection.table.table import Table

    nets = nets.rename(index=NAMES)
    rows = nets.rename_axis("arch").reset_index().assign(seed=0, status="ok", n_layers=1)
    return Table(rows, nets, Space((1,), (16, 32, 64, 128), 1), "hand-built table")


def _hand_trials(sequences: list[str], cost: float, name: str, nets: pd.DataFrame) -> pd.DataFrame:
    """One repeat per string of network names (one trial each); observed = true error, every trial costs ``cost``."""
    rows = [
        {
            "strategy": name,
            "repeat": r,
            "trial": t,
            "state": "COMPLETE",
            "arch": NAMES[a],
            "val_error": nets.loc[a, "val_error"],
            "latency_ms": nets.loc[a, "latency_ms"],
            "test_error": nets.loc[a, "test_error"],
            "cost": cost,
            "train_seconds": cost,
        }
        for r, seq in enumerate(sequences)
        for t, a in enumerate(seq)
    ]
    return pd.DataFrame(rows)


def test_compare_two_strategies_hand_computed():
    from scipy.stats import wilcoxon

    from hyperlab.selection.analysis.compare import Searches, compare
    from hyperlab.selection.analysis.per_table import Settings

    # true front a, b, c (d is dominated by b); best 0.10, so the regrets are a 0, b 0.02, c 0.10, d 0.20
    nets = pd.DataFrame(
        {
            "val_error": [0.10, 0.12, 0.20, 0.30],
            "test_error": [0.11, 0.13, 0.21, 0.31],
            "latency_ms": [4.0, 2.0, 1.0, 3.0],
        },
        index=pd.Index(list("abcd"), name="arch"),
    )
    # final regrets, good vs base: (0, .2) (0, .1) (.02, .2) (.02, .1) (0, 0) (.02, 0)
    good = _hand_trials(["dca", "adc", "dbc", "cbd", "abc", "cdb"], 1.0, "good", nets)
    base = _hand_trials(["ddd", "dcc", "ddd", "cdc", "dca", "adc"], 2.0, "base", nets)
    settings = Settings(
        target_quantile=1 / 3, budget_quantile=0.5, n_bootstrap=50, seed=0, baseline="base", pareto_strategy="good"
    )
    out = compare(
        Searches(_hand_table(nets), {"good": good, "base": base}, {}, 1), dataclasses.replace(settings, n_grid=40)
    )
    s = out.report["strategies"]
    assert out.report["n_trials"] == 3 and out.report["target_regret"] == pytest.approx(0.02)

    # paired differences -.2 -.1 -.18 -.08 (0 dropped) +.02: |d| ranks 5 3 4 2 1, so W+ = 1 of n = 5;
    # exact one-sided P(W+ <= 1) = #{{}, {1}} / 2^5 = 2/32, two-sided twice that
    d = np.array([-0.2, -0.1, -0.18, -0.08, 0.02])
    assert s["good"]["p_less_regret_than_baseline"] == pytest.approx(2 / 32)
    assert s["good"]["p_less_regret_than_baseline"] == pytest.approx(wilcoxon(d, alternative="less").pvalue)
    assert s["good"]["p_holm"] == pytest.approx(2 / 32)  # a family of one test
    assert s["base"]["p_less_regret_than_baseline"] is None and s["base"]["p_holm"] is None
    pw = out.tables["pairwise.csv"].set_index(["a", "b"])
    assert tuple(pw.loc[("good", "base"), ["wins", "ties", "losses"]]) == (4, 1, 1)
    assert tuple(pw.loc[("base", "good"), ["wins", "ties", "losses"]]) == (1, 1, 4)
    assert pw.loc[("good", "base"), "p_two_sided"] == pytest.approx(4 / 32) == pytest.approx(wilcoxon(d).pvalue)
    assert pw.loc[("good", "base"), "median_diff"] == pytest.approx(-0.09)  # between -.1 and -.08
    # ranks per repeat: good 1 1 1 1 1.5 2, base 2 2 2 2 1.5 1
    assert s["good"]["mean_rank"] == pytest.approx(7.5 / 6) and s["base"]["mean_rank"] == pytest.approx(10.5 / 6)
    assert s["good"]["median_regret"] == pytest.approx(0.01) and s["base"]["median_regret"] == pytest.approx(0.1)

    # target 0.02 (the network at the 1/3 quantile is b): every good repeat reaches it, base's last two
    assert s["good"]["reached_target"] == 1.0 and s["base"]["reached_target"] == pytest.approx(2 / 6)
    # good's repeats reach it after 3 1 2 2 1 3 trials; base's after 3 and 1
    assert s["good"]["median_trials_to_target"] == 2.0 and s["base"]["median_trials_to_target"] == np.inf

    # the training-seconds grid runs 1 .. 6 s; a strategy's curve stops (NaN) past its median total (3 s and 6 s)
    curve = out.tables["regret_vs_train_seconds.csv"]
    x = curve["train_seconds"].to_numpy()
    assert x[0] == pytest.approx(1.0) and x[-1] == pytest.approx(6.0)
    assert (curve["good"].isna().to_numpy() == (x > 3.0)).all() and not curve["base"].isna().any()
    first = curve[x < 2]  # good: one trial bought (median regret .1); base: none yet (the worst regret, .2)
    assert np.allclose(first["good"], 0.1) and np.allclose(first["base"], 0.2)
    assert np.allclose(curve.loc[(x >= 2) & (x < 3), "good"], 0.02)

    # the Pareto plot data: the true front, and good's front in its median-hypervolume repeat
    # (hypervolumes: {a, c} in repeats 0, 1 < {b, c} in 2, 3, 5 < everything in 4; the 4th of 6 is repeat 3)
    pareto = out.tables["pareto.csv"]
    assert set(pareto.loc[pareto["kind"] == "true_front", "arch"]) == {NAMES[x] for x in "abc"}
    assert set(pareto.loc[pareto["kind"] == "good_front", "arch"]) == {NAMES[x] for x in "bc"}
    assert out.report["true_front_size"] == 3
    # latency budget: the lower median of 1, 2, 3, 4 ms; feasible b and c
    assert out.report["latency_budget_ms"] == 2.0 and out.report["best_feasible_arch"] == NAMES["b"]
    assert s["good"]["feasible_share_of_trials"] == pytest.approx(10 / 18)


# --------------------------------------------------------------------------- statistics and front quality by hand


def test_holm_hand_computed():
    # sorted 0.01, 0.02, 0.04, 0.30 times 4, 3, 2, 1: 0.04, 0.06, 0.08, 0.30 (monotone already)
    got = stats.holm({"a": 0.02, "b": 0.01, "c": 0.30, "d": 0.04, "base": None})
    assert got == pytest.approx({"a": 0.06, "b": 0.04, "c": 0.30, "d": 0.08, "base": None})
    # monotonicity: 0.01*3 = 0.03, 0.011*2 = 0.022 -> 0.03, 0.5
    got = stats.holm({"x": 0.01, "y": 0.011, "z": 0.5})
    assert got["y"] == pytest.approx(0.03) and got["z"] == pytest.approx(0.5)
    assert stats.holm({"x": 0.6, "y": 0.7})["x"] == 1.0


def test_win_tie_loss_and_pairwise_table_hand_computed():
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


def test_bootstrap_median_ci_is_a_point_on_constant_data_and_brackets_the_median():
    rng = np.random.default_rng(0)
    lo, hi = stats.bootstrap_median_ci(np.full(10, 0.3), 200, rng)
    assert lo == hi == 0.3
    lo, hi = stats.bootstrap_median_ci(np.arange(101.0), 500, rng)
    assert lo < 50 < hi and hi - lo < 30


def test_front_quality_and_budget_curve_hand_computed():
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
