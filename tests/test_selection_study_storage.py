"""The private Optuna 5.0.0 calls the slot workers rely on (hyperlab.selection.study.storage), pinned.

No public call pops a WAITING trial without creating one when none is left,
nor runs the heartbeat thread ``Study.optimize`` runs around a trial; a new
Optuna that changes either must fail here, not silently in a distributed search.
"""

from __future__ import annotations

import time

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from hyperlab.selection.study import storage as slots

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_optuna_is_the_pinned_version():
    assert optuna.__version__ == "5.0.0"


def test_pop_slot_takes_waiting_trials_in_order_and_never_creates_one(tmp_path):
    study = optuna.create_study(storage=slots.open_storage(str(tmp_path / "journal.log")))
    for slot in range(3):
        study.enqueue_trial({}, user_attrs={"slot": slot})
    popped = [slots.pop_slot(study) for _ in range(3)]
    trials = study.get_trials(deepcopy=False)
    assert [t.user_attrs["slot"] for t in sorted(trials, key=lambda t: t.number)] == [0, 1, 2]
    assert [t._trial_id for t in trials] == popped and all(t.state == TrialState.RUNNING for t in trials)
    assert slots.pop_slot(study) is None and len(study.get_trials(deepcopy=False)) == 3  # none left: none made


def _beating(storage, trial_id: int) -> bool:
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True)
    )
    with storage.engine.connect() as conn:
        return trial_id in {row[0] for row in conn.execute(query, {"ids": [trial_id]})}


def test_heartbeat_thread_beats_on_an_rdb_and_is_a_no_op_on_a_journal(tmp_path):
    rdb = slots.open_storage(f"sqlite:///{tmp_path / 'rdb.sqlite3'}")
    study = optuna.create_study(storage=rdb)
    study.enqueue_trial({}, user_attrs={"slot": 0})
    trial_id = slots.pop_slot(study)
    assert not _beating(rdb, trial_id)
    seen = []

    def objective(trial):
        deadline = time.monotonic() + 10  # the thread records its first beat as soon as it starts
        while not _beating(rdb, trial_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(_beating(rdb, trial_id))
        return 1.0

    slots.run_slot(study, rdb, trial_id, objective)
    # the beat is in the trial_heartbeats table (what fail_dead_trials reads) while the objective runs
    assert seen == [True] and study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 1.0

    storage = slots.open_storage(str(tmp_path / "journal.log"))
    journal = optuna.create_study(storage=storage)
    journal.enqueue_trial({}, user_attrs={"slot": 0})
    slots.run_slot(journal, storage, slots.pop_slot(journal), lambda trial: 2.0)
    assert journal.trials[0].value == 2.0


def test_the_heartbeat_settings_reach_optunas_storage(tmp_path):
    """fail_dead_trials reads the grace period back from the storage (RDBStorage attributes, Optuna 5.0.0)."""
    rdb = slots.open_storage(f"sqlite:///{tmp_path / 'rdb.sqlite3'}", heartbeat_s=3, grace_s=11)
    assert (rdb.get_heartbeat_interval(), rdb.grace_period) == (3, 11)
    default = slots.open_storage(f"sqlite:///{tmp_path / 'default.sqlite3'}")
    assert (default.get_heartbeat_interval(), default.grace_period) == (slots.HEARTBEAT_S, slots.GRACE_S)


def test_a_worker_killed_before_its_first_beat_is_found_dead(tmp_path):
    rdb = slots.open_storage(f"sqlite:///{tmp_path / 'rdb.sqlite3'}", heartbeat_s=1, grace_s=1)
    study = optuna.create_study(storage=rdb)
    study.enqueue_trial({}, user_attrs={"slot": 0})
    slots.pop_slot(study)  # RUNNING, never a heartbeat
    slots.fail_dead_trials(study, rdb)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]  # young: maybe still starting
    time.sleep(1.1)
    slots.fail_dead_trials(study, rdb)
    dead, retry = study.trials
    assert dead.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.user_attrs == {"slot": 0, "retry_of": 0}
    slots.fail_dead_trials(study, rdb)  # a finished trial is not failed twice, nor its slot re-enqueued
    assert len(study.trials) == 2


def test_a_killed_runs_trials_are_failed_and_requeued_once(tmp_path):
    study = optuna.create_study(storage=slots.open_storage(str(tmp_path / "journal.log")))
    for slot in range(2):
        study.enqueue_trial({}, user_attrs={"slot": slot})
    slots.pop_slot(study)
    slots.recover_journal(study)
    states = [(t.state, t.user_attrs) for t in study.trials]
    assert states == [
        (TrialState.FAIL, {"slot": 0}),
        (TrialState.WAITING, {"slot": 1}),
        (TrialState.WAITING, {"slot": 0, "retry_of": 0}),
    ]
    assert slots.n_valid(study) == 0  # the dead trial is superseded by its retry


@pytest.mark.parametrize("finished", [TrialState.COMPLETE, TrialState.FAIL])
def test_failing_a_trial_another_process_finished_is_refused(tmp_path, finished):
    study = optuna.create_study(storage=slots.open_storage(str(tmp_path / "journal.log")))
    trial = study.ask()
    stale = study.trials[0]  # read while RUNNING, as a worker reads the trials before failing the dead
    study.tell(trial, 1.0 if finished == TrialState.COMPLETE else None, state=finished)
    assert slots._fail(study, stale) is False and study.trials[0].state == finished


def test_a_samplers_claim_is_seen_by_other_readers_while_the_trial_runs(tmp_path):
    """NetworkRandomSampler (and the GP samplers) write a claim with ``study._storage.set_trial_system_attr``."""
    from hyperlab.selection.samplers.network_random import CLAIM_ATTR, NetworkRandomSampler

    path = str(tmp_path / "journal.log")
    sampler = NetworkRandomSampler([{"x": i} for i in range(4)], key=lambda p: p["x"], seed=0)
    study = optuna.create_study(storage=slots.open_storage(path), sampler=sampler)
    seen = []

    def objective(trial):
        x = trial.suggest_int("x", 0, 3)
        other = optuna.load_study(study_name=study.study_name, storage=slots.open_storage(path))
        running = other.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        seen.append((x, [t.system_attrs.get(CLAIM_ATTR) for t in running]))
        return float(x)

    study.optimize(objective, n_trials=2)
    assert [claims for _, claims in seen] == [[x] for x, _ in seen]  # network index i is x here


def test_opening_a_fresh_database_another_process_is_creating_retries(tmp_path, monkeypatch):
    """Machines started together on a fresh database race to create Optuna's schema; the losers open again."""
    real, calls = slots._rdb, []

    def racing(url, heartbeat_s, grace_s):
        calls.append(url)
        if len(calls) < 3:
            raise sqlalchemy.exc.IntegrityError("CREATE TYPE studydirection", {}, Exception("duplicate key value"))
        return real(url, heartbeat_s, grace_s)

    monkeypatch.setattr(slots, "_rdb", racing)
    monkeypatch.setattr(slots.time, "sleep", lambda s: None)
    url = f"sqlite:///{tmp_path / 'rdb.sqlite3'}"
    assert isinstance(slots.open_storage(url), optuna.storages.RDBStorage) and len(calls) == 3

    def broken(url, heartbeat_s, grace_s):
        raise sqlalchemy.exc.ProgrammingError("SELECT", {}, Exception("permission denied for schema public"))

    monkeypatch.setattr(slots, "_rdb", broken)
    with pytest.raises(sqlalchemy.exc.ProgrammingError, match="permission denied"):  # not a race: at once
        slots.open_storage(url)
