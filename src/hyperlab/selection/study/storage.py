"""Studies shared by worker processes: the storages, the trial slots, and recovering from dead workers.

- ``storage="none"``: one in-memory study per repeat (no storage at all).
- ``storage=<file path>``: Optuna ``JournalStorage(JournalFileBackend(path))``,
  one machine; ``storage=<URL>`` (``postgresql://...``): an RDB storage, which
  several machines may share, with Optuna's heartbeats.

Exactly ``n_trials`` per study, whoever runs it: the study is created with
``n_trials`` *slots*, WAITING trials enqueued once (user attribute ``slot``),
and workers only pop slots (an atomic state change in the storage), never
create trials. So a second run, or a second machine, shares the work instead
of adding trials. A slot whose worker died is re-enqueued (user attribute
``retry_of``; the dead trial is FAIL and left out of the results): with an RDB
a RUNNING trial whose heartbeat stopped for the grace period
(``search.heartbeat_grace_seconds``, default :data:`GRACE_S`) is dead
(Optuna's heartbeat, beating every ``search.heartbeat_seconds``); a journal is used by one run at a time
(``<journal>.run.lock``, a second run refuses with one line), so at start every
RUNNING trial is dead, and a stale ``<journal>.lock`` of a killed process is removed.

Optuna 5.0.0 (pinned) has no public call for two things a slot worker needs:
popping a WAITING trial *without* creating one when none is left
(``Study._pop_waiting_trial_id``; ``Study.ask`` creates a trial then) and the
heartbeat thread ``Study.optimize`` runs around a trial
(``optuna.storages._heartbeat.get_heartbeat_thread``). Both are used here
only, and ``tests/test_selection_study_storage.py`` pins their behaviour.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperlab.selection.table.benchmark import NetworkFailed

log = logging.getLogger(__name__)

HEARTBEAT_S = 1  # RDB: a running trial's heartbeat interval (default of search.heartbeat_seconds)
# RDB: a RUNNING trial silent this long belongs to a dead worker; its slot is re-enqueued
# (default of search.heartbeat_grace_seconds)
GRACE_S = 6
LOCK_GRACE_S = 5  # journal: a lock file untouched this long is a killed process's (Optuna's default: 30)
POLL_S = 0.5  # RDB: how often a finished worker checks on slots other workers hold
SCHEMA_ATTEMPTS = 5  # RDB: tries to open a fresh database whose schema other processes are creating


class StorageBusy(RuntimeError):
    """The storage cannot be used now (another run holds the journal); the message is one line."""


def is_rdb(storage: str) -> bool:
    return "://" in storage


def open_storage(storage: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S):
    """Optuna storage of ``search.storage``: None (in memory), a journal file, or an RDB with heartbeats.

    ``heartbeat_s``, ``grace_s``: an RDB's heartbeat interval and grace period
    (``search.heartbeat_seconds``, ``search.heartbeat_grace_seconds``); a
    journal has no heartbeats. An RDB URL carries no password (the params
    check refuses one): the driver finds it itself, libpq in ``PGPASSWORD`` or ``~/.pgpass``.
    """
    if storage == "none":
        return None
    if is_rdb(storage):
        return _open_rdb(storage, heartbeat_s, grace_s)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    lock = JournalFileOpenLock(storage, grace_period=LOCK_GRACE_S)
    return JournalStorage(JournalFileBackend(storage, lock_obj=lock))


def _rdb(url: str, heartbeat_s: int, grace_s: int):
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5.0, and what we need
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=heartbeat_s, grace_period=grace_s, heartbeat_stale_trial_callback=requeue
        )


def _open_rdb(url: str, heartbeat_s: int, grace_s: int, attempts: int = SCHEMA_ATTEMPTS):
    """Optuna's RDBStorage with heartbeats, opened again while another process creates Optuna's tables.

    Machines started together on a fresh database all create Optuna's schema
    (types, tables, version rows): each checks that an object is absent, then
    creates it, so all but one fail with "already exists" / "duplicate key".
    Every step checks first, so opening again once the winner has committed succeeds.
    """
    import sqlalchemy

    for attempt in range(1, attempts):
        try:
            return _rdb(url, heartbeat_s, grace_s)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
            if not any(words in str(err) for words in ("already exists", "duplicate key")):
                raise
            log.info("another process is creating Optuna's tables in the database; opening it again")
            time.sleep(0.2 * attempt)
    return _rdb(url, heartbeat_s, grace_s)


@contextlib.contextmanager
def journal_run_lock(path: str) -> Iterator[None]:
    """Hold ``<path>.run.lock`` for one run: a second run on the same journal refuses with one line.

    ``flock`` is released by the kernel when its holder dies, so a killed run
    never blocks the next. Under it, a ``<path>.lock`` (Optuna's append lock)
    can only be a leftover of a killed process: removed at once instead of
    stalling every worker for Optuna's grace period.
    """
    handle = open(f"{path}.run.lock", "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise StorageBusy(
                f"search.storage: {path} is in use by another run (pid {holder}); "
                "wait for it to finish or use another journal file"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        stale = Path(f"{path}.lock")
        if stale.exists():
            log.warning("removing %s, left by a killed process", stale)
            stale.unlink(missing_ok=True)
        yield
    finally:
        handle.close()


# --------------------------------------------------------------------------- slots


def enqueue_slots(study: optuna.Study, n_trials: int) -> None:
    """The study's slots 0..n_trials-1, those not there yet (a creator killed half way left some out)."""
    if "slots" in study.user_attrs:
        return
    present = {t.user_attrs.get("slot") for t in study.get_trials(deepcopy=False)}
    for slot in range(n_trials):
        if slot not in present:
            study.enqueue_trial({}, user_attrs={"slot": slot}, skip_if_exists=False)
    study.set_user_attr("slots", n_trials)


def requeue(study: optuna.Study, dead: FrozenTrial) -> None:
    """Give a dead trial's slot to the next worker (called once per dead trial, by whoever failed it)."""
    if "slot" in dead.user_attrs:
        study.enqueue_trial(
            {}, user_attrs={"slot": dead.user_attrs["slot"], "retry_of": dead.number}, skip_if_exists=False
        )


def superseded(trials) -> set[int]:
    """Numbers of the dead trials whose slot was re-enqueued."""
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def is_valid(trial, dead: set[int] | frozenset[int] = frozenset()) -> bool:
    """A finished trial that counts: not interrupted, not a dead worker's (``dead``: :func:`superseded`)."""
    return trial.state.is_finished() and not trial.user_attrs.get("interrupted", False) and trial.number not in dead


def n_valid(study: optuna.Study) -> int:
    every = study.get_trials(deepcopy=False)
    dead = superseded(every)
    return sum(is_valid(t, dead) for t in every)


# --------------------------------------------------------------------------- dead trials


def _fail(study: optuna.Study, trial: FrozenTrial) -> bool:
    """FAIL a RUNNING trial of ``study`` (public ``Study.tell``); False if another process finished it first.

    ``tell`` raises ``ValueError`` when it reads the trial finished already, and the
    storage ``UpdateFinishedTrialError`` when another process's write won the race.
    """
    try:
        study.tell(trial.number, state=TrialState.FAIL)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
        return False
    return True


def recover_journal(study: optuna.Study) -> None:
    """Under the journal's run lock every RUNNING trial is a killed run's: fail it, re-enqueue its slot."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _fail(study, t):
            requeue(study, t)


def fail_dead_trials(study: optuna.Study, storage) -> None:
    """RDB: fail the RUNNING trials of dead workers and re-enqueue their slots (a no-op for a journal).

    Dead: a heartbeat older than the storage's grace period (Optuna's check), or
    no heartbeat at all and started over the grace period ago (killed between
    popping the slot and its first heartbeat, which Optuna's check never finds).
    """
    if not isinstance(storage, optuna.storages.RDBStorage):
        return
    # the grace period open_storage gave the storage (attribute of Optuna 5.0.0's RDBStorage, pinned in
    # tests/test_selection_study_storage.py): one grace period for Optuna's check and ours
    grace = storage.grace_period if storage.grace_period is not None else GRACE_S
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # its callback, requeue, re-enqueues the slots
    now = datetime.datetime.now()  # Optuna stamps datetime_start with the local clock too
    old = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > grace
    ]
    if not old:
        return
    import sqlalchemy

    study_id = storage.get_study_id_from_name(study.study_name)
    ids = {t.number: storage.get_trial_id_from_study_id_trial_number(study_id, t.number) for t in old}
    # Optuna's RDB schema (pinned 5.0.0; tests/test_selection_study_storage.py): one row per beating trial
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True)
    )
    with storage.engine.connect() as conn:
        beating = {row[0] for row in conn.execute(query, {"ids": list(ids.values())})}
    for t in old:
        if ids[t.number] not in beating and _fail(study, t):
            requeue(study, t)  # only the process whose FAIL went through re-enqueues


# --------------------------------------------------------------------------- a worker


def run_slot(study: optuna.Study, storage, trial_id: int, objective: Callable) -> None:
    """One popped slot, as ``study.optimize`` runs a trial: heartbeat on, a failed network is a FAIL trial."""
    from optuna.storages._heartbeat import get_heartbeat_thread  # no public equivalent (module docstring)

    trial = optuna.Trial(study, trial_id)
    values, state = None, None
    with get_heartbeat_thread(trial_id, storage):
        try:
            values = objective(trial)
        except NetworkFailed:
            state = TrialState.FAIL
    study.tell(trial, values, state=state)  # tell also drops the study's per-trial cache of the trials


def pop_slot(study: optuna.Study) -> int | None:
    """The id of a WAITING trial of ``study``, now RUNNING, or None when none is left; never creates a trial.

    Atomic in the storage, so no two workers get one slot. Private in Optuna
    5.0.0 (module docstring); ``Study.ask`` would create a trial instead of None.
    """
    return study._pop_waiting_trial_id()


def work_slots(study: optuna.Study, storage, objective: Callable) -> int:
    """Run slots of ``study`` until none is WAITING; returns how many this process ran."""
    ran = 0
    while True:
        fail_dead_trials(study, storage)
        trial_id = pop_slot(study)
        if trial_id is None:
            return ran
        if isinstance(storage, optuna.storages.RDBStorage):
            # at once: a trial without any heartbeat is only found dead by its age
            storage.record_heartbeat(trial_id)
        run_slot(study, storage, trial_id, objective)
        ran += 1
