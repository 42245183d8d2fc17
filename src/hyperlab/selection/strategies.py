"""The search strategies and the runner that repeats each against the table.

Strategies (every one works on the same fixed-length encoding,
:func:`~hyperlab.selection.benchmark.suggest_arch`):

- ``random_uniform``: a network drawn uniformly among those not yet evaluated
  (the baseline); ``random``: the same without replacement, but layer-uniform
  (every depth equally likely, as Optuna's ``RandomSampler`` on this encoding);
- ``gp_ei``, ``gp_ei_per_second``, ``gp_ei_constrained``: GP samplers whose pool
  holds one canonical encoding per network (``canonicalize``), so no network
  repeats while an unevaluated one remains;
- ``tpe``, ``tpe_per_second``, ``tpe_constrained`` (Optuna's ``constraints_func``:
  latency <= budget), ``motpe``: Optuna's TPE as it behaves (it can repeat a network).

``*_per_second`` divide by the trial's cost (``search.cost`` or the strategy's
own ``cost``); ``*_constrained`` search under ``latency_ms <= budget``.

Every study gets a fresh, seeded sampler (REFERENCES.md §1, Optuna 5.0 facts:
a shared instance would share its random stream). Seeds derive from
``(seed, repeat, worker, resumed trials)`` only, so the strategies of one repeat
start from comparable random streams and a rerun gives the same trials.

Storage and workers:

- ``storage="none"``: one in-memory study per repeat; ``n_workers`` processes
  split the repeats between them (results identical to one worker).
- ``storage=<file path>``: Optuna ``JournalStorage(JournalFileBackend(path))``,
  one machine; ``storage=<URL>`` (``postgresql://...``): an RDB storage, which
  several machines may share. The ``n_workers`` processes (of every machine)
  all work on every study at once, as Optuna's distributed optimization does,
  each with its own sampler seed.

Exactly ``n_trials`` per study, whoever runs it: the study is created with
``n_trials`` *slots*, WAITING trials enqueued once (user attribute ``slot``),
and workers only pop slots (an atomic state change in the storage), never
create trials. So a second run, or a second machine, shares the work instead
of adding trials, and one worker with a storage runs exactly the trials of the
in-memory run (slot k is trial number k). A slot whose worker died is
re-enqueued (user attribute ``retry_of``; the dead trial is FAIL and left
out of the results): with an RDB a RUNNING trial whose heartbeat stopped for
:data:`GRACE_S` seconds is dead (Optuna's heartbeat); a journal is used by one
run at a time (``<journal>.run.lock``, a second run refuses with one line), so
at start every RUNNING trial is dead, and a stale ``<journal>.lock`` of a
killed process is removed. Study names carry a fingerprint of everything that
determines the results (strategy, seed, trials, startup, cost, the table's
content), so changed params never mix with old trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from hyperlab.selection.benchmark import (NetworkFailed, TableObjective, arch_of_params, canonical_params,
                                          network_params, space_of)
from hyperlab.selection.cost_tpe import CostAwareTPESampler
from hyperlab.selection.gp import ConstrainedGPEISampler, GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.names import CONSTRAINED, MULTI_OBJECTIVE, STRATEGIES
from hyperlab.selection.network_random import NetworkRandomSampler, layer_uniform_weights

log = logging.getLogger(__name__)

HEARTBEAT_S = 1      # RDB: a running trial's heartbeat interval
GRACE_S = 6          # RDB: a RUNNING trial silent this long belongs to a dead worker; its slot is re-enqueued
LOCK_GRACE_S = 5     # journal: a lock file untouched this long is a killed process's (Optuna's default: 30)
POLL_S = 0.5         # RDB: how often a finished worker checks on slots other workers hold
READY_TIMEOUT_S = 60  # RDB: how long to wait for another run to finish creating a study's slots



@dataclasses.dataclass(frozen=True)
class RunSpec:
    strategy: str
    n_trials: int = 40
    repeats: int = 20
    n_startup_trials: int = 10
    cost: str = "latency"
    seed: int = 0
    storage: str = "none"
    n_workers: int = 1
    budget: float = 1.0  # latency budget (ms) of the *_constrained strategies


@dataclasses.dataclass(frozen=True)
class Networks:
    """What the network-aware samplers need of the table: its space and every network's canonical encoding."""
    space: object
    archs: tuple[str, ...]
    depths: tuple[int, ...]

    @classmethod
    def of(cls, table: pd.DataFrame) -> "Networks":
        archs = tuple(sorted(set(table["arch"].astype(str))))
        return cls(space_of(table), archs, tuple(len(a.split("-")) for a in archs))

    def canonicalize(self, params: dict) -> dict:
        return canonical_params(params, self.space)

    def key(self, params: dict) -> str:
        return arch_of_params(params, self.space)


class LatencyConstraint:
    """Optuna ``constraints_func``: ``latency_ms - budget`` (feasible when <= 0); picklable."""

    def __init__(self, budget: float):
        self.budget = float(budget)

    def __call__(self, trial) -> tuple[float]:
        return (float(trial.user_attrs.get("latency_ms", np.inf)) - self.budget,)


def make_sampler(strategy: str, seed: int, n_startup_trials: int, networks: Networks | None = None,
                 budget: float = 1.0) -> optuna.samplers.BaseSampler:
    """A fresh sampler of ``strategy``; the cost-aware ones read the trial user attribute ``cost``,
    the constrained ones ``latency_ms``. ``networks``: the table's (the random and GP samplers count networks)."""
    def by_network(weights=None, sampler_seed=seed):
        return NetworkRandomSampler(network_params(networks.space, networks.archs), networks.key, weights,
                                    seed=sampler_seed)

    # GP samplers: canonical pool, and (until a trial completes, there is no relative search space) every
    # parameter from a network draw among the untaken ones, so early failures cannot repeat a network either
    gp = {} if networks is None else {"canonicalize": networks.canonicalize,
                                      "independent_sampler": by_network(sampler_seed=(seed + 7919) % 2**31)}
    if strategy in ("random", "random_uniform"):
        if networks is None:
            return optuna.samplers.RandomSampler(seed=seed)
        return by_network(layer_uniform_weights(networks.depths) if strategy == "random" else None)
    if strategy == "gp_ei":
        return GPEISampler(n_startup_trials=n_startup_trials, seed=seed, **gp)
    if strategy == "gp_ei_per_second":
        return GPEIPerSecondSampler(n_startup_trials=n_startup_trials, seed=seed, cost_attr="cost", **gp)
    if strategy == "gp_ei_constrained":
        return ConstrainedGPEISampler(n_startup_trials=n_startup_trials, seed=seed, budget=budget,
                                      constraint_attr="latency_ms", **gp)
    if strategy == "tpe_constrained":
        with warnings.catch_warnings():  # Optuna 5 deprecates constraints_func (for Trial.set_constraint), still works
            warnings.simplefilter("ignore", FutureWarning)
            return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed,
                                              constraints_func=LatencyConstraint(budget))
    if strategy == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed)
    if strategy == "tpe_per_second":
        return CostAwareTPESampler(n_startup_trials=n_startup_trials, seed=seed, cost_attr="cost")
    if strategy == "motpe":  # TPESampler on a study with two directions is MOTPE
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed)
    raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")


def sampler_seed(seed: int, repeat: int, worker: int = 0, resumed: int = 0) -> int:
    return int(np.random.SeedSequence([seed, repeat, worker, resumed]).generate_state(1)[0] & 0x7FFFFFFF)


def table_digest(table: pd.DataFrame) -> str:
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:12]


def study_name(spec: RunSpec, digest: str, repeat: int) -> str:
    key = json.dumps([spec.strategy, spec.seed, spec.n_trials, spec.n_startup_trials, spec.cost, digest]
                     + ([round(spec.budget, 9)] if spec.strategy in CONSTRAINED else []))
    return f"{spec.strategy}-{hashlib.sha256(key.encode()).hexdigest()[:10]}-r{repeat:03d}"


class StorageBusy(RuntimeError):
    """The storage cannot be used now (another run holds the journal); the message is one line."""


def is_rdb(storage: str) -> bool:
    return "://" in storage


def open_storage(storage: str):
    """Optuna storage of ``search.storage``: None (in memory), a journal file, or an RDB with heartbeats."""
    if storage == "none":
        return None
    if is_rdb(storage):
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5.0, and what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(storage, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                              heartbeat_stale_trial_callback=_requeue)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
    lock = JournalFileOpenLock(storage, grace_period=LOCK_GRACE_S)
    return JournalStorage(JournalFileBackend(storage, lock_obj=lock))


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
            raise StorageBusy(f"search.storage: {path} is in use by another run (pid {holder}); "
                              "wait for it to finish or use another journal file") from None
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


def _create(spec: RunSpec, name: str, storage, sampler) -> optuna.Study:
    directions = ["minimize", "minimize"] if spec.strategy in MULTI_OBJECTIVE else ["minimize"]
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions)


def _requeue(study: optuna.Study, dead: FrozenTrial) -> None:
    """Give a dead trial's slot to the next worker (called once per dead trial, by whoever failed it)."""
    if "slot" in dead.user_attrs:
        study.enqueue_trial({}, user_attrs={"slot": dead.user_attrs["slot"], "retry_of": dead.number},
                            skip_if_exists=False)


def _recover_journal(study: optuna.Study) -> None:
    """Under the journal's run lock every RUNNING trial is a killed run's: fail it, re-enqueue its slot."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        _requeue(study, t)


def _objective(table: pd.DataFrame, spec: RunSpec, repeat: int, worker: int) -> Callable:
    inner = TableObjective(table, cost=spec.cost, multi_objective=spec.strategy in MULTI_OBJECTIVE,
                           seed=spec.seed, repeat=repeat)

    def objective(trial):
        trial.set_user_attr("worker", worker)
        return inner(trial)

    return objective


def _optimize(study: optuna.Study, objective: Callable, n_trials: int) -> None:
    if n_trials > 0:
        study.optimize(objective, n_trials=n_trials, catch=(NetworkFailed,), gc_after_trial=False)


def _run_slot(study: optuna.Study, trial_id: int, objective: Callable) -> None:
    """One popped slot, as ``study.optimize`` runs a trial: heartbeat on, a failed network is a FAIL trial."""
    from optuna.storages._heartbeat import get_heartbeat_thread  # what Study.optimize uses (pinned Optuna)

    trial = optuna.Trial(study, trial_id)
    values, state = None, None
    with get_heartbeat_thread(trial_id, study._storage):
        try:
            values = objective(trial)
        except NetworkFailed:
            state = TrialState.FAIL
    study.tell(trial, values, state=state)


def _work_slots(study: optuna.Study, objective: Callable) -> int:
    """Run slots of ``study`` until none is WAITING; returns how many this process ran."""
    ran = 0
    while True:
        study._thread_local.cached_all_trials = None
        _fail_dead_trials(study)
        trial_id = study._pop_waiting_trial_id()  # atomic: no two workers get one slot
        if trial_id is None:
            return ran
        _beat(study, trial_id)  # at once: a trial without any heartbeat is only found dead by its age
        _run_slot(study, trial_id, objective)
        ran += 1


def _rdb_backend(study: optuna.Study):
    backend = getattr(study._storage, "_backend", study._storage)  # Optuna wraps an RDBStorage in a cache
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _beat(study: optuna.Study, trial_id: int) -> None:
    backend = _rdb_backend(study)
    if backend is not None:
        backend.record_heartbeat(trial_id)


def _fail_dead_trials(study: optuna.Study) -> None:
    """RDB: fail the RUNNING trials of dead workers and re-enqueue their slots (a no-op for a journal).

    Dead: a heartbeat older than :data:`GRACE_S` (Optuna's check), or no heartbeat
    at all and started over :data:`GRACE_S` ago (killed between popping the slot
    and its first heartbeat, which Optuna's check never finds).
    """
    backend = _rdb_backend(study)
    if backend is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # its callback, _requeue, re-enqueues the slots
    now = datetime.datetime.now()  # Optuna stamps datetime_start with the local clock too
    old = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
           if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > GRACE_S]
    if not old:
        return
    import sqlalchemy

    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True))
    with backend.engine.connect() as conn:
        beating = {row[0] for row in conn.execute(query, {"ids": [t._trial_id for t in old]})}
    for t in old:
        if t._trial_id not in beating:
            try:
                if study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                    _requeue(study, t)  # only the process whose FAIL went through re-enqueues
            except optuna.exceptions.UpdateFinishedTrialError:
                pass


def _superseded(trials) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def _valid(trial, superseded: set[int] = frozenset()) -> bool:
    return (trial.state.is_finished() and not trial.user_attrs.get("interrupted", False)
            and trial.number not in superseded)


def trials_frame(study: optuna.Study, spec: RunSpec, repeat: int) -> pd.DataFrame:
    """The first ``n_trials`` valid finished trials of ``study``, one row each."""
    every = study.get_trials(deepcopy=False)
    dead = _superseded(every)
    trials = sorted((t for t in every if _valid(t, dead)), key=lambda t: t.number)
    rows = []
    for i, t in enumerate(trials[:spec.n_trials]):
        ok = t.state == TrialState.COMPLETE
        ua = t.user_attrs
        rows.append({"strategy": spec.strategy, "repeat": repeat, "trial": i, "number": t.number,
                     "worker": ua.get("worker", 0), "state": t.state.name, "arch": ua.get("arch", ""),
                     "row_seed": ua.get("row_seed", -1),
                     "val_error": t.values[0] if ok else np.nan,
                     "latency_ms": ua.get("latency_ms", np.nan) if ok else np.nan,
                     "test_error": ua.get("test_error", np.nan) if ok else np.nan,
                     # a failed lookup has no measured cost; it adds nothing to the cumulative cost
                     "cost": ua.get("cost", 0.0) if ok else 0.0,
                     "train_seconds": ua.get("train_seconds", 0.0) if ok else 0.0,
                     **{f"param_{k}": v for k, v in sorted(t.params.items())}})
    return pd.DataFrame(rows)


def _run_memory_repeat(table: pd.DataFrame, spec: RunSpec, repeat: int) -> pd.DataFrame:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = make_sampler(spec.strategy, sampler_seed(spec.seed, repeat), spec.n_startup_trials,
                           Networks.of(table), spec.budget)
    study = _create(spec, f"{spec.strategy}-r{repeat:03d}", None, sampler)
    _optimize(study, _objective(table, spec, repeat, 0), spec.n_trials)
    return trials_frame(study, spec, repeat)


def _slots_done(study: optuna.Study, n_trials: int) -> bool:
    every = study.get_trials(deepcopy=False)
    return sum(_valid(t, _superseded(every)) for t in every) >= n_trials


def _prepare_shared(spec: RunSpec, storage, digest: str, repeat: int) -> str:
    """Create a study with its ``n_trials`` slots, or join / resume an existing one; returns its name."""
    name = study_name(spec, digest, repeat)
    try:
        study = _create(spec, name, storage, optuna.samplers.RandomSampler(seed=0))
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage)
        if not is_rdb(spec.storage):  # under the run lock: nobody else is creating or running it
            _enqueue_slots(study, spec.n_trials)
            _recover_journal(study)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "slots" not in study.user_attrs:  # another run is still enqueuing them
            if time.monotonic() > deadline:
                raise StorageBusy(f"search.storage: study {name} has no slots (its creator was killed while "
                                  f"creating it); delete it with `optuna delete-study --study-name {name}`") from None
            time.sleep(POLL_S)
        done = sum(_valid(t, _superseded(study.trials)) for t in study.get_trials(deepcopy=False))
        log.info("%s: joining with %d of %d trial(s) finished", name, done, spec.n_trials)
        return name
    _enqueue_slots(study, spec.n_trials)
    return name


def _enqueue_slots(study: optuna.Study, n_trials: int) -> None:
    """The study's slots 0..n_trials-1, those not there yet (a creator killed half way left some out)."""
    if "slots" in study.user_attrs:
        return
    present = {t.user_attrs.get("slot") for t in study.get_trials(deepcopy=False)}
    for slot in range(n_trials):
        if slot not in present:
            study.enqueue_trial({}, user_attrs={"slot": slot}, skip_if_exists=False)
    study.set_user_attr("slots", n_trials)


def _shared_worker(table: pd.DataFrame, spec: RunSpec, worker: int, jobs: list[tuple[int, str]]) -> int:
    """One worker process: slots of every study (repeat, name) until none is left waiting."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(spec.storage)
    ran = 0
    for repeat, name in jobs:
        study = optuna.load_study(study_name=name, storage=storage)
        # a resumed study seeds its samplers afresh: the finished trials are not drawn again
        resumed = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        study.sampler = make_sampler(spec.strategy, sampler_seed(spec.seed, repeat, worker, resumed),
                                     spec.n_startup_trials, Networks.of(table), spec.budget)
        ran += _work_slots(study, _objective(table, spec, repeat, worker))
    return ran


def _star(args):
    fn, *rest = args
    return fn(*rest)


def _pool_map(n_workers: int, jobs: list) -> list:
    """``map`` over worker processes; a worker killed by a signal stops the run with one line, not a hang."""
    if n_workers == 1:
        return [_star(job) for job in jobs]
    try:
        with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_star, jobs))
    except BrokenProcessPool:
        raise StorageBusy("a search worker process died (killed?); rerun to resume: finished trials are kept") from None


def run_strategy(table: pd.DataFrame, spec: RunSpec, on_repeat: Callable[[], None] | None = None) -> pd.DataFrame:
    """Every trial of every repeat of ``spec.strategy``, as one frame (see :func:`trials_frame`)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tick = on_repeat or (lambda: None)
    if spec.storage == "none":
        jobs = [(_run_memory_repeat, table, spec, r) for r in range(spec.repeats)]
        if spec.n_workers == 1:
            frames = []
            for job in jobs:
                frames.append(_star(job))
                tick()
        else:
            with multiprocessing.get_context("spawn").Pool(spec.n_workers) as pool:
                frames = []
                for frame in pool.imap(_star, jobs):
                    frames.append(frame)
                    tick()
        return pd.concat(frames, ignore_index=True)

    with contextlib.nullcontext() if is_rdb(spec.storage) else journal_run_lock(spec.storage):
        storage = open_storage(spec.storage)
        digest = table_digest(table)
        jobs = [(r, _prepare_shared(spec, storage, digest, r)) for r in range(spec.repeats)]
        _pool_map(spec.n_workers, [(_shared_worker, table, spec, w, jobs) for w in range(spec.n_workers)])
        frames = []
        for repeat, name in jobs:
            study = optuna.load_study(study_name=name, storage=storage)
            _wait_for_slots(study, spec, table, repeat)
            frames.append(trials_frame(study, spec, repeat))
            tick()
    return pd.concat(frames, ignore_index=True)


def _wait_for_slots(study: optuna.Study, spec: RunSpec, table: pd.DataFrame, repeat: int) -> None:
    """Until every slot is finished: slots other machines still hold, or re-enqueued after a dead worker."""
    warned = False
    while not _slots_done(study, spec.n_trials):
        if not is_rdb(spec.storage):
            raise StorageBusy(f"search.storage: study {study.study_name} has unfinished slots after the run; rerun")
        if not warned:
            log.info("%s: waiting for slots held by other workers", study.study_name)
            warned = True
        study.sampler = make_sampler(spec.strategy, sampler_seed(spec.seed, repeat, 0, len(study.trials)),
                                     spec.n_startup_trials, Networks.of(table), spec.budget)
        if _work_slots(study, _objective(table, spec, repeat, 0)) == 0:
            time.sleep(POLL_S)
