"""The table's noise floor and search regret on hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from hyperlab.selection.analysis.noise_floor import (
    noise_floor,
    oracle_reach,
    repeats_needed_for_quartile,
    search_regret,
)


def _table():
    # A: seeds 0.08 / 0.12 (true 0.10); B: 0.10 / 0.12 (true 0.11); C: 0.20 / 0.20; D failed once
    rows = [
        ("A", 0, "ok", 0.08),
        ("A", 1, "ok", 0.12),
        ("B", 0, "ok", 0.10),
        ("B", 1, "ok", 0.12),
        ("C", 0, "ok", 0.20),
        ("C", 1, "ok", 0.20),
        ("D", 0, "ok", 0.30),
        ("D", 1, "failed", np.nan),
    ]
    table = pd.DataFrame(rows, columns=["arch", "seed", "status", "val_error"])
    nets = table[table.status == "ok"].groupby("arch").agg(val_error=("val_error", "mean"))
    return table, nets


def test_oracle_reach_matches_enumeration():
    table, nets = _table()
    out = oracle_reach(table, nets, ks=[1, 2, 3], target=0.0, draws=40000, seed=3)
    p = dict(zip(out.k_best_evaluated, out.p_reach))
    assert p[1] == 1.0  # the best network alone is always the incumbent
    # A wins unless A draws 0.12 and B draws 0.10; the tie 0.12 / 0.12 goes to A (the oracle's favour): 3/4
    assert p[2] == pytest.approx(0.75, abs=0.01)
    assert p[3] == pytest.approx(0.75, abs=0.01)  # C never beats either draw
    # a target as large as B's regret: every draw counts
    assert oracle_reach(table, nets, ks=[2], target=0.011, draws=1000).p_reach.iloc[0] == 1.0


def test_oracle_reach_is_seeded():
    table, nets = _table()
    a = oracle_reach(table, nets, ks=[2, 3], target=0.0, draws=500, seed=1)
    pd.testing.assert_frame_equal(a, oracle_reach(table, nets, ks=[2, 3], target=0.0, draws=500, seed=1))


def test_search_regret_separates_noise_from_search():
    _, nets = _table()
    trials = pd.DataFrame(
        {
            "repeat": [0, 0, 0, 1, 1, 1],
            "trial": [0, 1, 2, 0, 1, 2],
            "state": ["COMPLETE", "COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "COMPLETE"],
            "arch": ["C", "A", "B", "C", "A", "B"],
            # repeat 0: A evaluated but B's lucky draw (0.10 < 0.12) is the incumbent
            "val_error": [0.20, 0.12, 0.10, 0.20, np.nan, 0.12],
        }
    )
    out = search_regret(trials, nets).set_index("repeat")
    assert out.loc[0, "regret"] == pytest.approx(0.01)  # incumbent B: 0.11 - 0.10
    assert out.loc[0, "search_regret"] == pytest.approx(0.0)  # A was evaluated
    assert out.loc[1, "regret"] == pytest.approx(0.01)  # A failed: it does not count as evaluated
    assert out.loc[1, "search_regret"] == pytest.approx(0.01)


@pytest.mark.parametrize("repeats", [2, 4, 5, 20, 50])
def test_repeats_needed_for_quartile_is_where_np_quantile_flips(repeats):
    need = repeats_needed_for_quartile(repeats)
    at = np.r_[np.zeros(need), np.ones(repeats - need)]
    below = np.r_[np.zeros(need - 1), np.ones(repeats - need + 1)]
    assert np.quantile(at, 0.75) <= 0 < np.quantile(below, 0.75)


def test_noise_floor_quartile_bar_is_a_binomial_tail():
    table, nets = _table()
    out = noise_floor(table, nets, target=0.0, repeats=20, draws=40000).set_index("k_best_evaluated")
    assert out.loc[1, "p_quartile_bar"] == pytest.approx(1.0)
    # p = 3/4 per repeat, 16 of 20 needed: sum_{m>=16} C(20, m) (3/4)^m (1/4)^(20-m) = 0.4148
    assert out.loc[2, "p_quartile_bar"] == pytest.approx(0.4148, abs=0.02)
