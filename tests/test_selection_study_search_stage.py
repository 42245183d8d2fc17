"""Stages ``search@<strategy>`` and ``compare`` end to end on a tiny synthetic table; workers and resume."""

from __future__ import annotations

import json
import os

import numpy as np
import optuna
import pandas as pd
import pytest

from conftest import REPO, run_stage
from hyperlab.config import SEARCH_STRATEGIES
from hyperlab.selection.study.runner import RunSpec, prepare_shared, study_name, table_objective
from hyperlab.selection.study.storage import journal_run_lock, open_storage, pop_slot, run_slot
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table, load_table

#: the space and seeds of the synthetic table the tests write (the stages check the table against them)
SPACE = {"layers": [1, 2], "widths": [16, 32, 64], "n_seeds": 2}
TINY = {"n_trials": 8, "repeats": 3, "strategies": {s: {"n_startup_trials": 3} for s in SEARCH_STRATEGIES}}


def _workdir(tmp_path, **search):
    (tmp_path / "data").mkdir(exist_ok=True)
    table = synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=2, seed=1, fail_rate=0.1)
    table.to_csv(tmp_path / "data" / "candidates.csv", index=False)
    # what the latency stage writes: two re-timings of every network
    lat = table.groupby("arch")["latency_ms"].mean()
    pd.concat(
        [pd.DataFrame({"arch": lat.index, "round": r, "latency_ms": lat.to_numpy() * (1 + 0.05 * r)}) for r in (1, 2)]
    ).to_csv(tmp_path / "data" / "latency.csv", index=False)
    return {"seed": 0, "candidates": SPACE, "search": {**TINY, **search}}, table


def _search(tmp_path, params, strategy, check=True):
    """``python stages/search.py <strategy>`` in ``tmp_path``."""
    return run_stage("search", tmp_path, params, strategy, check=check)


def _line_ending(lines: list[str], suffix: str) -> int:
    """The index of the one log line ending in ``suffix``."""
    found = [i for i, line in enumerate(lines) if line.endswith(suffix)]
    assert len(found) == 1, (suffix, lines)
    return found[0]


def _final_regrets(tmp_path, table) -> dict[str, list[float]]:
    """Per strategy, per repeat: true (seed-mean) error of the lowest observed error's network, minus the best."""
    truth = table[table["status"] == "ok"].groupby("arch")["val_error"].mean()
    out = {}
    for s in SEARCH_STRATEGIES:
        df = pd.read_csv(tmp_path / "data" / "search" / f"{s}.csv", dtype={"arch": str})
        ok = df[df["state"] == "COMPLETE"].sort_values(["repeat", "trial"])
        out[s] = [truth[g.loc[g["val_error"].idxmin(), "arch"]] - truth.min() for _, g in ok.groupby("repeat")]
    return out


@pytest.mark.slow
def test_search_and_compare_end_to_end(tmp_path):
    params, table = _workdir(tmp_path)
    for strategy in SEARCH_STRATEGIES:
        _search(tmp_path, params, strategy)
        df = pd.read_csv(tmp_path / "data" / "search" / f"{strategy}.csv", dtype={"arch": str})
        assert len(df) == 3 * 8 and sorted(df.groupby("repeat")["trial"].apply(list).sum()) == sorted(
            list(range(8)) * 3
        )
        ok = df[df["state"] == "COMPLETE"]
        # every observed value is a stored row of that network
        merged = ok.merge(table, left_on=["arch", "row_seed"], right_on=["arch", "seed"], suffixes=("", "_t"))
        assert len(merged) == len(ok) and np.allclose(merged["val_error"], merged["val_error_t"])
        assert set(df["param_n_layers"]) <= {1, 2} and "param_log2_units_l1" in df
    first = (tmp_path / "data" / "search" / "gp_ei.csv").read_text()
    _search(tmp_path, params, "gp_ei")
    assert (tmp_path / "data" / "search" / "gp_ei.csv").read_text() == first  # deterministic

    run_stage("compare", tmp_path, params)
    m = json.loads((tmp_path / "plots" / "search" / "report.json").read_text())
    assert set(m["strategies"]) == set(SEARCH_STRATEGIES) and m["networks"] == 12
    for row in m["strategies"].values():
        assert 0 <= row["median_hv_ratio_log"] <= 1 + 1e-9
    # final regrets and mean ranks re-derived from the trial files and the table alone
    final = _final_regrets(tmp_path, table)
    for s, row in m["strategies"].items():
        assert row["median_regret"] == pytest.approx(np.median(final[s]))
        ranks = []
        for r in range(3):  # rank 1 = lowest regret; tied strategies share the mean of their ranks
            x, others = final[s][r], [final[o][r] for o in final if o != s]
            ranks.append(1 + sum(v < x for v in others) + 0.5 * sum(v == x for v in others))
        assert row["mean_rank"] == pytest.approx(np.mean(ranks))
    curve = pd.read_csv(tmp_path / "plots" / "search" / "regret_vs_trial.csv")
    # regret can rise: a lucky seed draw may crown a network whose seed-mean error is worse
    assert len(curve) == 8 and (curve[list(SEARCH_STRATEGIES)] >= 0).all().all()
    pareto = pd.read_csv(tmp_path / "plots" / "search" / "pareto.csv", dtype={"arch": str})
    assert {"table", "true_front", "motpe_front"} <= set(pareto["kind"])
    # networks counted, Holm-corrected p-values, a full pairwise matrix, four front metrics
    for s in (
        "random_uniform",
        "random_layerwise",
        "gp_ei",
        "gp_ei_per_second",
        "gp_ei_per_ms_latency",
        "gp_ei_constrained",
    ):
        assert m["strategies"][s]["repeats_per_study"] == 0
    assert all(r["p_holm"] is None or r["p_holm"] >= r["p_less_regret_than_baseline"] for r in m["strategies"].values())
    pw = pd.read_csv(tmp_path / "plots" / "search" / "pairwise.csv")
    k = len(SEARCH_STRATEGIES)
    assert len(pw) == k * (k - 1) and (pw[["wins", "ties", "losses"]].sum(axis=1) == 3).all()
    fq = pd.read_csv(tmp_path / "plots" / "search" / "front_quality.csv")
    assert set(fq["metric"]) == {"hv_ratio_log", "hv_ratio_linear", "front_share", "igd_plus"}
    assert (fq["ci_low"] <= fq["median"] + 1e-12).all() and (fq["median"] <= fq["ci_high"] + 1e-12).all()
    hv_log = fq[fq["metric"] == "hv_ratio_log"].set_index("strategy")["median"]
    assert {s: row["median_hv_ratio_log"] for s, row in m["strategies"].items()} == pytest.approx(hv_log.to_dict())
    # the table's seed means, the latency stage's rounds, and each seed whose timings cover every network
    measured = set(pd.read_csv(tmp_path / "plots" / "search" / "remeasured.csv")["measurement"])
    assert {"mean", "round1", "round2"} <= measured <= {"mean", "seed0", "seed1", "round1", "round2"}
    headline = json.loads((tmp_path / "metrics" / "search.json").read_text())
    assert headline["gp_ei_repeats_per_study"] == 0
    assert set(headline) == set(json.loads((REPO / "metrics" / "search.json").read_text()))  # the committed columns
    assert set(m["verdicts"]) >= {"latency_budget", "motpe_front", "remeasured", "gp_ei_per_second_vs_gp_ei_train_time"}
    # three regrets per strategy: what it found <= the incumbent it would report (a lucky draw can only hurt)
    for row in m["strategies"].values():
        assert row["search_median_regret"] <= row["median_regret"] + 1e-12
        for kind in ("search_", "recommendation_", "", "budget_"):
            assert row[f"{kind}regret_ci_low"] <= row[f"{kind}median_regret"] <= row[f"{kind}regret_ci_high"]
    assert m["table_realizations"] == 1 and m["headline_realization"] == 0 and len(m["realizations"]) == 1
    # one realization: every verdict with a winner holds on all (that is, the one) realization
    pv = pd.read_csv(tmp_path / "plots" / "search" / "paired_verdicts.csv", keep_default_na=False)
    assert (pv["robust"] == (pv["winner"] != "")).all()
    assert len(m["paired_verdicts"]["robust"]) == int(pv["robust"].sum()) and not m["paired_verdicts"]["not_robust"]

    run_stage("figures", tmp_path, {**params, "figures": {"dpi": 40}}, "search")
    assert {p.name for p in (tmp_path / "plots" / "figures" / "search").glob("search_*.png")} == {
        "search_regret_trial.png",
        "search_regret_found_trial.png",
        "search_regret_recommended_trial.png",
        "search_regret_train_seconds.png",
        "search_budget_regret.png",
        "search_hypervolume.png",
        "search_front_quality.png",
        "search_pareto.png",
    }


@pytest.mark.parametrize(
    "key,value,word",
    [
        ("n_trials", 1, "search.n_trials"),
        ("strategies", {"gp_ei": {}, "bogus": {}}, "search.strategies.bogus: unknown entry"),
        ("strategies", {"gp_ei": {"n_startup_trials": 50}}, "search.strategies.gp_ei.n_startup_trials: got 50"),
        ("cost", "energy", "search.cost"),
        # the table has 2 seeds: two disjoint seed pairs need 4
        ("table_realizations", 2, "search.table_realizations: got 2; each realization needs 2 seeds of its own"),
        (
            "strategies",
            {"gp_ei": {}, "gp_ei_per_ms_latency": {"cost": "train_time"}},
            "search.strategies.gp_ei_per_ms_latency.cost: got 'train_time'",
        ),
    ],
)
def test_bad_params_rejected_with_one_line(tmp_path, key, value, word):
    params, _ = _workdir(tmp_path, **{key: value})
    proc = _search(tmp_path, params, "gp_ei", check=False)
    assert proc.returncode == 2 and word in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_an_unknown_or_unconfigured_strategy_is_refused(tmp_path):
    params, _ = _workdir(tmp_path)
    proc = _search(tmp_path, params, "bogus", check=False)
    assert proc.returncode == 2 and "unknown strategy 'bogus'" in proc.stderr
    params["search"]["strategies"] = {"tpe": {"n_startup_trials": 3}}
    proc = _search(tmp_path, params, "gp_ei", check=False)
    assert proc.returncode == 2 and "search.strategies has: tpe" in proc.stderr


@pytest.mark.slow
def test_two_workers_share_one_journal_without_losing_or_duplicating(tmp_path):
    params, _ = _workdir(tmp_path, storage=str(tmp_path / "journal.log"), n_workers=2, repeats=2, n_trials=9)
    _search(tmp_path, params, "gp_ei")
    df = pd.read_csv(tmp_path / "data" / "search" / "gp_ei.csv", dtype={"arch": str})
    storage = open_storage(str(tmp_path / "journal.log"))
    for _, g in df.groupby("repeat"):
        # workers pop slots as they come free: the split is the machine's, the trials are exactly the slots
        assert sorted(g["number"]) == list(range(9)) and set(g["worker"]) <= {0, 1}
    studies = optuna.get_all_study_summaries(storage)
    assert len(studies) == 2 and all(s.n_trials == 9 for s in studies)


def test_interrupted_run_resumes_and_changed_params_start_clean(tmp_path):
    journal = str(tmp_path / "journal.log")
    params, table = _workdir(tmp_path, storage=journal, repeats=1, n_trials=6)
    spec = RunSpec("tpe", n_trials=6, repeats=1, n_startup_trials=3, storage=journal, cost="train_time")
    storage = open_storage(journal)
    digest = load_table(tmp_path / "data" / "candidates.csv").digest
    # a killed run: 3 finished slots, one left RUNNING, and Optuna's append lock left behind
    name = prepare_shared(spec, storage, digest, 0)
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.TPESampler(n_startup_trials=3, seed=0)
    )
    objective = table_objective(Table.of(table), spec, 0, 0)
    for _ in range(3):
        run_slot(study, storage, pop_slot(study), objective)
    before = [t.params for t in study.trials[:3]]
    zombie_id = pop_slot(study)
    (tmp_path / "journal.log.lock").write_text("")

    proc = _search(tmp_path, params, "tpe")
    # the event the stale lock could stall: the run removes it before it joins the study, so no append of this
    # run finds it and waits out Optuna's lock grace period (the stage's log, not a clock, shows the order)
    lines = proc.stderr.splitlines()
    removed = _line_ending(lines, f" WARNING removing {journal}.lock, left by a killed process")
    assert removed < _line_ending(lines, f"{name}: joining with 3 of 6 trial(s) finished"), proc.stderr
    assert not (tmp_path / "journal.log.lock").exists()
    df = pd.read_csv(tmp_path / "data" / "search" / "tpe.csv", dtype={"arch": str})
    assert df["trial"].tolist() == list(range(6)) and df["number"].tolist() == [0, 1, 2, 4, 5, 6]
    resumed = optuna.load_study(study_name=name, storage=storage)
    zombie = resumed.trials[3]
    assert zombie._trial_id == zombie_id and zombie.state == optuna.trial.TrialState.FAIL
    assert resumed.trials[6].user_attrs == {**resumed.trials[6].user_attrs, "slot": 3, "retry_of": 3}
    assert [t.params for t in resumed.trials[:3]] == before
    assert sorted(t.user_attrs["slot"] for t in resumed.trials if t.state.is_finished() and t.number != 3) == list(
        range(6)
    )

    params["search"]["n_trials"] = 7  # other params: another study, nothing reused
    _search(tmp_path, params, "tpe")
    df = pd.read_csv(tmp_path / "data" / "search" / "tpe.csv", dtype={"arch": str})
    assert df["number"].tolist() == list(range(7))
    assert len(optuna.get_all_study_summaries(storage)) == 2


def test_a_study_left_half_created_gets_its_missing_slots(tmp_path):
    journal = str(tmp_path / "journal.log")
    params, table = _workdir(tmp_path, storage=journal, repeats=1, n_trials=5)
    spec = RunSpec("random_layerwise", n_trials=5, repeats=1, n_startup_trials=3, storage=journal, cost="train_time")
    digest = load_table(tmp_path / "data" / "candidates.csv").digest
    # killed while enqueuing: two of five slots, and no "slots" mark
    study = optuna.create_study(study_name=study_name(spec, digest, 0), storage=open_storage(journal))
    for slot in (0, 1):
        study.enqueue_trial({}, user_attrs={"slot": slot})
    _search(tmp_path, params, "random_layerwise")
    trials = optuna.load_study(study_name=study.study_name, storage=open_storage(journal)).trials
    assert sorted(t.user_attrs["slot"] for t in trials) == list(range(5)) and all(t.state.is_finished() for t in trials)
    assert len(pd.read_csv(tmp_path / "data" / "search" / "random_layerwise.csv")) == 5


def test_a_second_run_on_a_journal_refuses_with_one_line(tmp_path):
    journal = str(tmp_path / "journal.log")
    params, _ = _workdir(tmp_path, storage=journal, repeats=1, n_trials=4)
    with journal_run_lock(journal):
        proc = _search(tmp_path, params, "random_layerwise", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: search.storage: {journal} is in use by another run (pid {os.getpid()}); "
        "wait for it to finish or use another journal file"
    )
    _search(tmp_path, params, "random_layerwise")  # released: the next run goes ahead


def test_one_worker_on_a_journal_runs_the_in_memory_trials(tmp_path):
    params, _ = _workdir(tmp_path, repeats=2)
    _search(tmp_path, params, "gp_ei")
    memory = pd.read_csv(tmp_path / "data" / "search" / "gp_ei.csv", dtype={"arch": str})
    params["search"]["storage"] = str(tmp_path / "journal.log")
    _search(tmp_path, params, "gp_ei")
    journal = pd.read_csv(tmp_path / "data" / "search" / "gp_ei.csv", dtype={"arch": str})
    pd.testing.assert_frame_equal(journal, memory)


@pytest.mark.slow
def test_workers_without_storage_split_repeats_and_change_nothing(tmp_path):
    params, _ = _workdir(tmp_path)
    _search(tmp_path, params, "gp_ei_per_second")
    one = (tmp_path / "data" / "search" / "gp_ei_per_second.csv").read_text()
    params["search"]["n_workers"] = 2
    _search(tmp_path, params, "gp_ei_per_second")
    assert (tmp_path / "data" / "search" / "gp_ei_per_second.csv").read_text() == one
