"""Table realizations (disjoint seed pairs), the three regrets, robust verdicts and order-free ``compare``,
on synthetic tables with 4 seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hyperlab.config import SEARCH_STRATEGIES, SearchParams
from hyperlab.selection.analysis import compare
from hyperlab.selection.analysis.robust import paired_verdicts, robust_verdicts
from hyperlab.selection.study import runner
from hyperlab.selection.study.trials import TrialsError, validate_trials
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table
from hyperlab.selection.table.validate import TableError

FEW = ("random_uniform", "gp_ei", "tpe", "gp_ei_per_ms_latency", "tpe_per_ms_latency")


@pytest.fixture(scope="module")
def table() -> Table:
    return Table.of(synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=4, seed=1, fail_rate=0.05))


def _params(strategies=FEW, **kw) -> SearchParams:
    base = {"n_trials": 6, "repeats": 3, "table_realizations": 2}
    return SearchParams(**{**base, **kw, "strategies": {s: {"n_startup_trials": 2} for s in strategies}})


@pytest.fixture(scope="module")
def searches(table) -> dict[str, pd.DataFrame]:
    params = _params()
    return {s: runner.run(params, s, table, 0).products["trials"] for s in params.strategies}


def test_realizations_are_disjoint_seed_pairs_scored_on_their_own_mean(table):
    r0, r1 = table.realization(0, 2), table.realization(1, 2)
    assert (r0.seeds, r1.seeds) == ((0, 1), (2, 3))
    assert table.realization(0, 1) is table  # one realization: the whole table, every seed
    ok = table.rows[table.rows["status"] == "ok"]
    for part, pair in ((r0, (0, 1)), (r1, (2, 3))):
        want = ok[ok["seed"].isin(pair)].groupby("arch")["val_error"].mean()
        assert part.nets["val_error"].to_dict() == pytest.approx(want.to_dict())
    with pytest.raises(TableError, match="3 realizations of 2 seeds each need candidates.n_seeds >= 6"):
        table.realization(0, 3)


def test_each_realization_observes_only_its_seeds(table, searches):
    for s, df in searches.items():
        assert sorted(df["realization"].unique()) == [0, 1] and len(df) == 2 * 3 * 6
        done = df[df["state"] == "COMPLETE"]
        assert set(done.loc[done["realization"] == 0, "row_seed"]) <= {0, 1}
        assert set(done.loc[done["realization"] == 1, "row_seed"]) <= {2, 3}
        validate_trials(df, "t.csv", s, 3, 6, table, 2)
    # the realizations' labels swapped: every value is a table row's, but of the other realization's seeds
    swapped = searches["gp_ei"].assign(realization=lambda d: 1 - d["realization"])
    with pytest.raises(TrialsError, match=r"row \d+: realization \d drew seed \d; it observes seeds \[\d, \d\] only"):
        validate_trials(swapped, "t.csv", "gp_ei", 3, 6, table, 2)


def test_latency_strategies_pay_the_inference_latency(table, searches):
    for s in ("gp_ei_per_ms_latency", "tpe_per_ms_latency"):
        done = searches[s][searches[s]["state"] == "COMPLETE"]
        assert np.array_equal(done["cost"].to_numpy(), done["latency_ms"].to_numpy())
        assert not np.array_equal(done["cost"].to_numpy(), done["train_seconds"].to_numpy())
    # whatever search.cost says, a *_per_ms_latency trial's cost is the latency
    spec = runner.RunSpec.of(_params(cost="train_time"), "tpe_per_ms_latency", 0, table)
    assert spec.cost == "latency"
    assert runner.RunSpec.of(_params(cost="train_time"), "gp_ei", 0, table).cost == "train_time"


def test_compare_reports_every_realization_and_three_regrets(table, searches):
    result = compare.run(_params(), compare.Searches(table, searches, {}, 2), 0)
    report = result.report
    assert report["table_realizations"] == 2 and [r["seeds"] for r in report["realizations"]] == [[0, 1], [2, 3]]
    for r, part in enumerate(report["realizations"]):
        truth = table.realization(r, 2).nets["val_error"]
        assert part["best_val_error"] == pytest.approx(float(truth.min()))
        for row in part["strategies"].values():  # what was found is never worse than what is reported
            assert 0 <= row["search_median_regret"] <= row["median_regret"] + 1e-12
    # beside its own truth, each realization's search regret read against the mean of all four seeds
    everything = table.nets["val_error"]
    for r, part in enumerate(report["realizations"]):
        g = searches["gp_ei"]
        done = g[(g["realization"] == r) & (g["state"] == "COMPLETE")]
        per_repeat = done.groupby("repeat")["arch"].agg(lambda a: everything[list(a)].min() - everything.min())
        assert part["search_median_regret_vs_all_seeds"]["gp_ei"] == pytest.approx(float(per_repeat.median()))
    # the headline (plot tables, metrics) is realization 0's
    assert (
        report["strategies"]["gp_ei"]["median_regret"]
        == report["realizations"][0]["strategies"]["gp_ei"]["median_regret"]
    )
    assert result.metrics["gp_ei_median_regret"] == report["strategies"]["gp_ei"]["median_regret"]
    pv = result.tables["paired_verdicts.csv"]
    assert set(pv["regret"]) == {"search", "incumbent", "recommendation", "budget"} and set(pv["realization"]) == {0, 1}
    curve = result.tables["recommendation_regret_vs_trial.csv"]
    assert list(curve["trial"]) == [2, 3, 6]  # a quarter, a half and all of the 6 trials


def test_a_verdict_is_stated_only_when_every_realization_agrees():
    # x beats y on every repeat of realization 0; on realization 1 they tie, then y beats x
    n = 12
    better = pd.DataFrame({"x": np.zeros(n), "y": np.linspace(0.01, 0.02, n), "z": np.linspace(0.01, 0.02, n)})
    tied = pd.DataFrame({"x": np.zeros(n), "y": np.zeros(n), "z": np.linspace(0.01, 0.02, n)})
    flipped = pd.DataFrame({"x": np.linspace(0.01, 0.02, n), "y": np.zeros(n), "z": np.linspace(0.02, 0.03, n)})
    table, summary = robust_verdicts(paired_verdicts([{"search": better}, {"search": tied}], "z"), 2)
    # x < z holds on both (x 0 vs z > 0 everywhere): robust; x < y holds on realization 0 only
    assert any(s.startswith("search regret: x lower than z") for s in summary["robust"])
    assert any(s.startswith("search regret, x vs y (two-sided)") for s in summary["not_robust"])
    assert not any("x lower than y" in s for s in summary["robust"])
    _, summary = robust_verdicts(paired_verdicts([{"search": better}, {"search": flipped}], "z"), 2)
    flip = [s for s in summary["not_robust"] if s.startswith("search regret, x vs y")]
    assert len(flip) == 1 and "realization 0: x" in flip[0] and "realization 1: y" in flip[0]
    robust = table[table["robust"]]
    assert set(zip(robust["a"], robust["b"], robust["winner"])) >= {("x", "z", "x")}


def test_compare_is_the_same_for_any_row_order(table, searches):
    params = _params()
    rng = np.random.default_rng(3)
    shuffled = {s: df.sample(frac=1.0, random_state=int(rng.integers(1000))) for s, df in searches.items()}
    a = compare.run(params, compare.Searches(table, searches, {}, 2), 0)
    b = compare.run(params, compare.Searches(table, shuffled, {}, 2), 0)
    assert json.dumps(a.report, sort_keys=True) == json.dumps(b.report, sort_keys=True)
    assert {k: v.to_csv(index=False) for k, v in a.tables.items()} == {
        k: v.to_csv(index=False) for k, v in b.tables.items()
    }
    assert a.metrics == b.metrics


def test_an_unknown_baseline_is_refused_not_swapped(table, searches):
    without = {s: df for s, df in searches.items() if s != "random_uniform"}
    with pytest.raises(compare.CompareError, match="the baseline 'random_uniform' did not run"):
        compare.run(_params(), compare.Searches(table, without, {}, 2), 0)


def test_every_strategy_name_says_one_thing():
    assert "random" not in SEARCH_STRATEGIES
    assert {"random_uniform", "random_layerwise", "gp_ei_per_ms_latency", "tpe_per_ms_latency"} <= set(
        SEARCH_STRATEGIES
    )
