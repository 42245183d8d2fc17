"""The sampler benchmark: test functions at their known minima, and the stage end to end on tiny params."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_stage
from hyperlab.selection.analysis import sampler_bench_experiment as sb
from hyperlab.selection.table.synthetic import synthetic_table


def test_hartmann6_minimum_and_branin_minima():
    x_star = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    assert sb.hartmann6(x_star) == pytest.approx(sb.FUNCTIONS["hartmann6"].minimum, abs=1e-5)
    for x in ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)):
        assert sb.branin(np.array(x)) == pytest.approx(sb.FUNCTIONS["branin"].minimum, abs=1e-5)
    rng = np.random.default_rng(0)  # and nowhere lower
    assert min(sb.hartmann6(x) for x in rng.uniform(size=(2000, 6))) > sb.FUNCTIONS["hartmann6"].minimum


def test_function_run_is_a_nonincreasing_nonnegative_regret_curve_and_deterministic():
    job = ("branin", "gp_ei", 0, 14, 5, 3)
    curve = sb.function_run(job)
    assert curve.shape == (14,) and np.all(curve >= 0) and np.all(np.diff(curve) <= 0)
    np.testing.assert_array_equal(curve, sb.function_run(job))


@pytest.mark.slow
def test_stage_writes_every_problem_and_sampler_on_tiny_params(tmp_path):
    (tmp_path / "data").mkdir()
    synthetic_table().to_csv(tmp_path / "data" / "candidates.csv", index=False)
    params = {
        "seed": 0,
        "candidates": {"n_seeds": 2},  # the synthetic table's seeds
        "sampler_bench": {
            "table_repeats": 2,
            "table_trials": 12,
            "function_repeats": 2,
            "function_trials": 12,
            "n_startup_trials": 4,
            "target_regret": 0.5,
            "timing_checkpoints": [5, 12],
            "timing_suggestions": 2,
            "n_workers": 1,
        },
    }
    run_stage("sampler_bench", tmp_path, params)
    summary = pd.read_csv(tmp_path / "plots/sampler_bench/summary.csv")
    assert set(zip(summary["problem"], summary["sampler"])) == {
        (p, s) for p in ("table", "hartmann6", "branin") for s in sb.SAMPLERS
    }
    assert (summary["regret_q25"] <= summary["median_regret"]).all()
    assert (summary["median_regret"] <= summary["regret_q75"]).all() and (summary["regret_q25"] >= 0).all()
    curves = pd.read_csv(tmp_path / "plots/sampler_bench/curves.csv")
    assert (curves["q25"] >= 0).all()
    for (problem, _), g in curves.groupby(["problem", "sampler"]):
        if problem != "table":  # on the noisy table a lower observation can be a worse network
            assert np.all(np.diff(g["median"].to_numpy()) <= 1e-12)  # best-so-far never gets worse
    table_rows = summary[summary["problem"] == "table"]
    # the best network evaluated is never worse than the incumbent the noisy observations chose
    assert (table_rows["search_regret_median"] <= table_rows["median_regret"] + 1e-12).all()
    # found_best is the share of repeats whose best evaluated network is the table's best
    assert ((table_rows["found_best"] > 0.5) <= (table_rows["search_regret_median"] <= 1e-12)).all()
    assert ((table_rows["found_best"] < 0.5) <= (table_rows["search_regret_median"] > 1e-12)).all()
    assert (table_rows["found_best"] * 2).isin([0.0, 1.0, 2.0]).all()  # two repeats
    floor = pd.read_csv(tmp_path / "plots/sampler_bench/noise_floor.csv")
    assert floor["k_best_evaluated"].iloc[0] == 1 and floor["p_reach"].iloc[0] == 1.0  # the best alone always wins
    assert floor["p_reach"].between(0, 1).all() and floor["p_quartile_bar"].between(0, 1).all()
    timing = pd.read_csv(tmp_path / "plots/sampler_bench/timing.csv")
    assert (timing.loc[timing["sampler"] == "tpe", "ratio_to_tpe"] == 1.0).all()
    metrics = json.loads((tmp_path / "metrics/sampler_bench.json").read_text())
    gp = summary.set_index(["problem", "sampler"]).xs("gp_ei", level="sampler")
    # the suggestion timing of gp_ei at the last of timing_checkpoints (12 completed trials)
    at_max = timing[(timing["sampler"] == "gp_ei") & (timing["completed_trials"] == 12)]
    assert len(at_max) == 1
    assert metrics == pytest.approx(  # exactly the committed columns, each re-read from the tables the stage wrote
        {
            "table_gp_ei_median_regret": gp.loc["table", "median_regret"],
            "table_gp_ei_regret_q75": gp.loc["table", "regret_q75"],
            "table_gp_ei_reached_target": gp.loc["table", "reached_target"],
            "hartmann6_gp_ei_median_regret": gp.loc["hartmann6", "median_regret"],
            "branin_gp_ei_median_regret": gp.loc["branin", "median_regret"],
            "gp_ei_suggest_ms_at_max": at_max["median_ms"].iloc[0],
            "gp_ei_suggest_over_tpe_at_max": at_max["ratio_to_tpe"].iloc[0],
        }
    )
    assert set(metrics) == set(json.loads((REPO / "metrics" / "sampler_bench.json").read_text()))
