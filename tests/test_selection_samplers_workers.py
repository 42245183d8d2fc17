"""The samplers under threads and worker processes, and their errors.

Threads: ``study.optimize(n_jobs=4)`` must run without error, leave
process-wide state (the BLAS thread limit, ``warnings.filters``) as it found
it, and -- for the GP samplers in a finite space -- never evaluate a point
twice while untaken points remain. The same holds for two processes sharing
one journal storage.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
import warnings

import numpy as np
import optuna
import pytest
from threadpoolctl import threadpool_info

from hyperlab.selection.samplers.cost_tpe import CostAwareTPESampler
from hyperlab.selection.samplers.gp import GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.samplers.gp import gp as gp_module

optuna.logging.set_verbosity(optuna.logging.ERROR)

SAMPLERS = {
    "gp_ei": lambda seed: GPEISampler(n_startup_trials=5, seed=seed),
    "gp_ei_per_second": lambda seed: GPEIPerSecondSampler(n_startup_trials=5, seed=seed),
    "cost_tpe": lambda seed: CostAwareTPESampler(n_startup_trials=5, seed=seed),
}


def _grid_objective(trial):
    """A finite space of 8 x 9 = 72 points; a little sleep so that threads overlap."""
    a = trial.suggest_int("a", 0, 7)
    b = trial.suggest_categorical("b", list(range(9)))
    trial.set_user_attr("cost", 1.0 + a)
    time.sleep(0.002)
    return (a - 5) ** 2 + 0.5 * (b - 2) ** 2 + 0.3 * math.sin(a * b)


def _blas_limits():
    return sorted((i["internal_api"], i["filepath"], i["num_threads"]) for i in threadpool_info())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_threads_no_error_no_leaked_state_no_repeats(name):
    blas, filters = _blas_limits(), list(warnings.filters)
    for run in range(10):
        study = optuna.create_study(sampler=SAMPLERS[name](run))
        # Until a trial completes, the space is unknown to the sampler (Optuna asks for each
        # parameter on its own, at random): the first trial runs alone.
        study.optimize(_grid_objective, n_trials=1)
        study.optimize(_grid_objective, n_trials=59, n_jobs=4)
        states = {t.state for t in study.trials}
        assert states == {optuna.trial.TrialState.COMPLETE}, states
        if name.startswith("gp"):  # TPE repeats points by design; the GP samplers must not
            points = [(t.params["a"], t.params["b"]) for t in study.trials]
            assert len(set(points)) == 60, f"run {run}: {60 - len(set(points))} repeated points"
    assert _blas_limits() == blas
    assert list(warnings.filters) == filters


def _journal_worker(path: str, name: str, worker: int, n_trials: int) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = JournalStorage(JournalFileBackend(path))
    study = optuna.load_study(study_name="shared", storage=storage, sampler=SAMPLERS[name](100 + worker))
    study.optimize(_grid_objective, n_trials=n_trials)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gp_ei", "gp_ei_per_second"])
def test_two_processes_on_one_journal_never_repeat_a_point(tmp_path, name):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = str(tmp_path / "journal.log")
    first = optuna.create_study(study_name="shared", storage=JournalStorage(JournalFileBackend(path)))
    first.optimize(_grid_objective, n_trials=1)  # the space is known from the first completed trial on
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_journal_worker, args=(path, name, w, 30 - w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    study = optuna.load_study(study_name="shared", storage=JournalStorage(JournalFileBackend(path)))
    points = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert len(points) == 60 and len(set(points)) == 60


# --------------------------------------------------------------------------- errors, not silence


@pytest.mark.parametrize("cls", [GPEISampler, GPEIPerSecondSampler])
def test_multi_objective_study_is_refused_before_any_objective_runs(cls):
    calls = []
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=cls(seed=0))
    with pytest.raises(ValueError, match=cls.__name__):
        study.optimize(lambda t: calls.append(1) or (t.suggest_float("x", 0, 1), 0.0), n_trials=3)
    assert calls == []


def test_failed_gp_fit_falls_back_with_one_warning_per_study(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(gp_module, "fit_kernel", broken)
    sampler = GPEISampler(n_startup_trials=2, seed=0)
    with caplog.at_level(logging.WARNING, logger="hyperlab.selection.samplers.gp.sampler"):
        for name in ("one", "two"):
            study = optuna.create_study(study_name=name, sampler=sampler)
            study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=8)
            assert len(study.trials) == 8
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("could not be fitted" in m and "singular" in m for m in messages)


@pytest.mark.parametrize(
    "make",
    [lambda: GPEIPerSecondSampler(n_startup_trials=1, seed=0), lambda: CostAwareTPESampler(n_startup_trials=1, seed=0)],
    ids=["gp_ei_per_second", "cost_tpe"],
)
@pytest.mark.parametrize("bad", ["fast", None, 0.0, -1.0, math.inf, math.nan, True])
def test_both_cost_aware_samplers_refuse_the_same_bad_costs(make, bad):
    def objective(t):
        t.set_user_attr("cost", bad)
        return t.suggest_float("x", 0, 1)

    study = optuna.create_study(sampler=make())
    with pytest.raises(ValueError, match="'cost'.*positive finite number"):
        study.optimize(objective, n_trials=4)


@pytest.mark.parametrize(
    "make",
    [lambda: GPEIPerSecondSampler(n_startup_trials=1, seed=0), lambda: CostAwareTPESampler(n_startup_trials=1, seed=0)],
    ids=["gp_ei_per_second", "cost_tpe"],
)
def test_missing_costs_are_left_out_with_one_warning(make, caplog):
    study = optuna.create_study(sampler=make())
    with caplog.at_level(logging.WARNING, logger="hyperlab"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)
    assert len(study.trials) == 6
    assert len([r for r in caplog.records if "no user attribute 'cost'" in r.getMessage()]) == 1
