"""An Optuna study as a work queue: one enqueued trial per unit, claimed by one worker at a time.

A *unit* is one JSON-able key of a stage's deterministic list of work; its trial
carries the unit's index (user attribute :data:`UNIT`). A worker claims a
WAITING trial (an atomic state change in the storage, so no two workers get one
unit), computes the unit with a heartbeat running, stores the JSON result in
user attributes (chunked, :data:`CHUNK` characters each) and completes the
trial. A worker that raises FAILs its trial with the error (user attribute
:data:`ERROR`): the run stops with it, as a bug would fail again.

Dead workers: the heartbeat is a counter in a trial system attribute
(:data:`BEAT`), bumped every ``heartbeat_s`` seconds. Every process of the run
watches the RUNNING trials (:class:`Watch`): one whose counter has not moved
for ``grace_s`` seconds *of the watcher's own clock* belongs to a dead worker;
it is FAILed (only one watcher's FAIL goes through) and its unit enqueued again
(user attribute :data:`RETRY_OF`), at most :data:`MAX_DEATHS` times. Optuna's own
heartbeat (``RDBStorage(heartbeat_interval=..., grace_period=...)`` with
``fail_stale_trials``) is not used: Optuna 5.0's ``JournalStorage`` has none, and
comparing the watcher's clock with the counter's changes needs no synchronized
clocks across machines.

Optuna 5.0.0 (pinned) has no public call that claims a WAITING trial without
creating a new one when none is left (``Study.ask`` creates one); the private
``Study._pop_waiting_trial_id`` is used for that here, as in
:mod:`hyperlab.selection.study.storage`, whose tests pin its behaviour.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

UNIT = "engine_unit"  # user attribute: the unit's index in the stage's list
KEY = "engine_key"  # user attribute: the unit's key (JSON), for readers of the storage
CHUNKS = "engine_chunks"  # user attribute: how many result chunks follow
RESULT = "engine_result_{}"  # user attributes: the result's JSON, in chunks
ERROR = "engine_error"  # user attribute: the exception a unit raised
RETRY_OF = "engine_retry_of"  # user attribute: the dead trial this one redoes
N_UNITS = "engine_units"  # study user attribute: set once every unit is enqueued
BEAT = "engine_beat"  # trial system attribute: the heartbeat counter
CHUNK = 60_000  # characters per result attribute (a MySQL TEXT holds 64 KiB; PostgreSQL has no limit)
MAX_DEATHS = 3  # a unit whose worker died this often stops the run (a kill by the OOM killer repeats)


class UnitFailed(RuntimeError):
    """A unit raised on some worker, or its workers kept dying; the message is one line."""


def open_storage(target: str):
    """``postgresql://...`` (any SQLAlchemy URL): an RDB storage; else a journal file at that path."""
    if "://" in target:
        import sqlalchemy.exc

        for attempt in range(5):  # processes starting together on a fresh database race to create its tables
            try:
                return optuna.storages.RDBStorage(target)
            except sqlalchemy.exc.IntegrityError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    # the open lock works on network file systems; a killed writer's lock is broken after 5 s, not 30
    return JournalStorage(JournalFileBackend(target, lock_obj=JournalFileOpenLock(target, grace_period=5)))


def enqueue_units(study: optuna.Study, keys: Sequence[Any]) -> None:
    """One WAITING trial per unit that has none WAITING, RUNNING or COMPLETE yet; then mark the study ready.

    Idempotent: a coordinator started again on the same study (same stage, params, data
    and code) enqueues only what is missing, and the units already complete are reused.
    """
    live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
    present = {t.user_attrs.get(UNIT) for t in study.get_trials(deepcopy=False, states=live)}
    for i, key in enumerate(keys):
        if i not in present:
            study.enqueue_trial({}, user_attrs={UNIT: i, KEY: json.dumps(key)}, skip_if_exists=False)
    study.set_user_attr(N_UNITS, len(keys))


def encode(result: Any) -> dict[str, Any]:
    """The user attributes holding ``result`` as JSON (NaN and infinities allowed), in chunks."""
    text = json.dumps(result)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    return {CHUNKS: len(chunks), **{RESULT.format(k): c for k, c in enumerate(chunks)}}


def decode(trial: FrozenTrial) -> Any:
    """The result :func:`encode` stored on ``trial``."""
    attrs = trial.user_attrs
    return json.loads("".join(attrs[RESULT.format(k)] for k in range(attrs[CHUNKS])))


@contextlib.contextmanager
def heartbeat(storage, trial_id: int, every_s: float) -> Iterator[None]:
    """Bump the trial's :data:`BEAT` counter every ``every_s`` seconds while the block runs (a thread)."""
    stop = threading.Event()

    def beat() -> None:
        n = 0
        while not stop.wait(every_s):
            n += 1
            try:
                storage.set_trial_system_attr(trial_id, BEAT, n)
            except Exception as err:  # the trial was failed by a watcher, or the storage is unreachable
                log.warning("heartbeat of trial %d stopped: %s", trial_id, err)
                return

    thread = threading.Thread(target=beat, name=f"engine-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def claim(study: optuna.Study) -> FrozenTrial | None:
    """A WAITING unit trial, now RUNNING and this process's; None when none is waiting (module docstring)."""
    trial_id = study._pop_waiting_trial_id()
    return None if trial_id is None else study._storage.get_trial(trial_id)


def run_claimed(study: optuna.Study, trial: FrozenTrial, compute: Callable[[int], Any], beat_s: float) -> bool:
    """Compute the claimed unit and complete its trial; False if a watcher failed the trial first.

    An exception FAILs the trial with its last line (:data:`ERROR`) and propagates.
    """
    storage, number = study._storage, trial.number
    try:
        with heartbeat(storage, trial._trial_id, beat_s):
            result = compute(trial.user_attrs[UNIT])
    except Exception as err:
        line = traceback.format_exception_only(err)[-1].strip()
        with contextlib.suppress(Exception):  # the error that matters is the one propagating
            storage.set_trial_user_attr(trial._trial_id, ERROR, line)
            study.tell(number, state=TrialState.FAIL)
        raise
    try:
        for key, value in encode(result).items():
            storage.set_trial_user_attr(trial._trial_id, key, value)
        study.tell(number, 0.0)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
        log.warning("unit %d: trial %d was given up as dead meanwhile; its redo counts", trial.user_attrs[UNIT], number)
        return False
    return True


class Watch:
    """Finds the RUNNING trials whose heartbeat stopped, fails them and enqueues their units again."""

    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self.seen: dict[int, tuple[Any, float]] = {}  # trial id -> (last counter value, when it was first seen)

    def dead(self, running: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """The trials of ``running`` whose counter has not moved for ``grace_s`` of this clock."""
        now, out = time.monotonic(), []
        for t in running:
            beat = t.system_attrs.get(BEAT, -1)
            last = self.seen.get(t._trial_id)
            if last is None or last[0] != beat:
                self.seen[t._trial_id] = (beat, now)
            elif now - last[1] > self.grace_s:
                out.append(t)
        return out

    def reap(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> None:
        """Fail the dead trials among ``trials`` and enqueue their units again (whoever's FAIL went through)."""
        for t in self.dead([t for t in trials if t.state == TrialState.RUNNING]):
            try:
                if not study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # finished meanwhile, by its worker or another watcher
            unit = t.user_attrs[UNIT]
            deaths = 1 + sum(1 for u in trials if u.state == TrialState.FAIL and _is_death(u, unit))
            log.warning("unit %d: its worker stopped beating (trial %d, death %d)", unit, t.number, deaths)
            if deaths <= MAX_DEATHS:
                attrs = {UNIT: unit, KEY: t.user_attrs.get(KEY, ""), RETRY_OF: t.number}
                study.enqueue_trial({}, user_attrs=attrs, skip_if_exists=False)


def _is_death(trial: FrozenTrial, unit: int) -> bool:
    return trial.user_attrs.get(UNIT) == unit and ERROR not in trial.user_attrs


def progress(trials: Sequence[FrozenTrial], n_units: int) -> tuple[dict[int, FrozenTrial], str | None]:
    """The first COMPLETE trial of each unit, and why the run cannot finish (None: it still can).

    It cannot when a unit's latest trial raised (:data:`ERROR`; a coordinator started
    again enqueues such a unit once more), or when its worker died more than
    :data:`MAX_DEATHS` times.
    """
    done: dict[int, FrozenTrial] = {}
    latest: dict[int, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if UNIT not in t.user_attrs:
            continue
        latest[t.user_attrs[UNIT]] = t
        if t.state == TrialState.COMPLETE:
            done.setdefault(t.user_attrs[UNIT], t)
    for unit, t in latest.items():
        if unit in done:
            continue
        if t.state == TrialState.FAIL and ERROR in t.user_attrs:
            return done, f"unit {unit} {t.user_attrs.get(KEY, '')} raised on a worker: {t.user_attrs[ERROR]}"
        deaths = sum(1 for u in trials if u.state == TrialState.FAIL and _is_death(u, unit))
        if deaths > MAX_DEATHS:
            return done, f"unit {unit} {t.user_attrs.get(KEY, '')}: its worker died {deaths} times"
    return done, None
