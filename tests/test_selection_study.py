"""Studies over the table (hyperlab.selection.study): every strategy counts networks, none twice while untried
ones remain, failed trials included; the latency file the comparison reads is checked."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from hyperlab.selection.analysis import regret
from hyperlab.selection.study.runner import RunSpec, run_strategy
from hyperlab.selection.study.trials import TrialsError, load_latency
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table, network_summary

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def table():
    return synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=2, seed=3, fail_rate=0.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy", ["random_uniform", "random_layerwise", "gp_ei", "gp_ei_per_second", "gp_ei_constrained"]
)
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
