"""Running a strategy: ``repeats`` studies against the table, in memory or on a shared storage.

- ``storage="none"``: one in-memory study per repeat; ``n_workers`` processes
  split the repeats between them (results identical to one worker).
- a journal file or an RDB URL (:mod:`hyperlab.selection.study.storage`): the
  ``n_workers`` processes (of every machine) all work on every study at once,
  as Optuna's distributed optimization does, each with its own sampler seed,
  on the study's ``n_trials`` slots. One worker with a storage runs exactly the
  trials of the in-memory run (slot k is trial number k).

Study names carry a fingerprint of everything that determines the results
(strategy, seed, trials, startup, cost, the table's content), so changed
params never mix with old trials. :func:`run` is the ``search`` stage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from hyperlab.progress import Progress, silent
from hyperlab.report import Result
from hyperlab.selection.names import CONSTRAINED, LATENCY_COST, MULTI_OBJECTIVE
from hyperlab.selection.study.pool import pool_map, star
from hyperlab.selection.study.storage import (
    GRACE_S,
    HEARTBEAT_S,
    POLL_S,
    StorageBusy,
    enqueue_slots,
    is_rdb,
    is_valid,
    journal_run_lock,
    n_valid,
    open_storage,
    recover_journal,
    superseded,
    work_slots,
)
from hyperlab.selection.study.strategies import Networks, make_sampler, sampler_seed
from hyperlab.selection.table.benchmark import NetworkFailed, TableObjective
from hyperlab.selection.table.table import Table

if TYPE_CHECKING:
    from hyperlab.config.sections.search import SearchParams

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60  # RDB: how long to wait for another run to finish creating a study's slots


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One strategy's run: what determines its trials (defaults: the ``search`` section's, :meth:`of`), then how."""

    strategy: str
    n_trials: int
    repeats: int
    n_startup_trials: int
    cost: str
    seed: int = 0
    storage: str = "none"  # in memory
    n_workers: int = 1
    budget: float = 1.0  # latency budget (ms) of the *_constrained strategies
    heartbeat_s: int = HEARTBEAT_S  # a shared storage's heartbeat interval and grace period
    grace_s: int = GRACE_S
    worker_setup: Callable[[], None] | None = None  # first in every worker process: :func:`.pool.pool_map`'s ``setup``

    @classmethod
    def of(cls, params: SearchParams, strategy: str, seed: int, table: Table) -> RunSpec:
        """The run of ``strategy`` the ``search`` params section asks for (its entry's own settings first);
        the latency budget is ``params.latency_budget_quantile`` of ``table``'s networks."""
        entry = params.strategies[strategy]
        assert entry.n_startup_trials is not None  # the section resolved it while validating
        return cls(
            strategy=strategy,
            n_trials=params.n_trials,
            repeats=params.repeats,
            n_startup_trials=entry.n_startup_trials,
            cost=trial_cost(strategy, entry.cost or params.cost),
            seed=seed,
            storage=params.storage,
            n_workers=params.n_workers,
            budget=table.latency_budget(params.latency_budget_quantile),
            heartbeat_s=params.heartbeat_seconds,
            grace_s=params.heartbeat_grace_seconds,
        )


def trial_cost(strategy: str, cost: str) -> str:
    """The cost a trial of ``strategy`` carries: latency for the ``*_per_ms_latency`` ones, else ``cost``."""
    return "latency" if strategy in LATENCY_COST else cost


def study_name(spec: RunSpec, digest: str, repeat: int) -> str:
    key = json.dumps(
        [spec.strategy, spec.seed, spec.n_trials, spec.n_startup_trials, spec.cost, digest]
        + ([round(spec.budget, 9)] if spec.strategy in CONSTRAINED else [])
    )
    return f"{spec.strategy}-{hashlib.sha256(key.encode()).hexdigest()[:10]}-r{repeat:03d}"


def _create(spec: RunSpec, name: str, storage, sampler) -> optuna.Study:
    directions: list[Literal["minimize", "maximize"]] = (
        ["minimize", "minimize"] if spec.strategy in MULTI_OBJECTIVE else ["minimize"]
    )
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions)


def _sampler(table: Table, spec: RunSpec, seed: int) -> optuna.samplers.BaseSampler:
    return make_sampler(spec.strategy, seed, spec.n_startup_trials, Networks.of(table), spec.budget)


def table_objective(table: Table, spec: RunSpec, repeat: int, worker: int) -> Callable:
    """The table lookup of repeat ``repeat``, recording which ``worker`` ran each trial."""
    inner = TableObjective(
        table, cost=spec.cost, multi_objective=spec.strategy in MULTI_OBJECTIVE, seed=spec.seed, repeat=repeat
    )

    def objective(trial):
        trial.set_user_attr("worker", worker)
        return inner(trial)

    return objective


def trials_frame(study: optuna.Study, spec: RunSpec, repeat: int) -> pd.DataFrame:
    """The first ``n_trials`` valid finished trials of ``study``, one row each."""
    every = study.get_trials(deepcopy=False)
    dead = superseded(every)
    trials = sorted((t for t in every if is_valid(t, dead)), key=lambda t: t.number)
    rows = []
    for i, t in enumerate(trials[: spec.n_trials]):
        ok = t.state == TrialState.COMPLETE
        ua = t.user_attrs
        rows.append(
            {
                "strategy": spec.strategy,
                "repeat": repeat,
                "trial": i,
                "number": t.number,
                "worker": ua.get("worker", 0),
                "state": t.state.name,
                "arch": ua.get("arch", ""),
                "row_seed": ua.get("row_seed", -1),
                "val_error": t.values[0] if ok else np.nan,
                "latency_ms": ua.get("latency_ms", np.nan) if ok else np.nan,
                "test_error": ua.get("test_error", np.nan) if ok else np.nan,
                # a failed lookup has no measured cost; it adds nothing to the cumulative cost
                "cost": ua.get("cost", 0.0) if ok else 0.0,
                "train_seconds": ua.get("train_seconds", 0.0) if ok else 0.0,
                **{f"param_{k}": v for k, v in sorted(t.params.items())},
            }
        )
    return pd.DataFrame(rows)


def _run_memory_repeat(table: Table, spec: RunSpec, repeat: int) -> pd.DataFrame:
    sampler = _sampler(table, spec, sampler_seed(spec.seed, repeat))
    study = _create(spec, f"{spec.strategy}-r{repeat:03d}", None, sampler)
    if spec.n_trials > 0:
        study.optimize(
            table_objective(table, spec, repeat, 0),
            n_trials=spec.n_trials,
            catch=(NetworkFailed,),
            gc_after_trial=False,
        )
    return trials_frame(study, spec, repeat)


def prepare_shared(spec: RunSpec, storage, digest: str, repeat: int) -> str:
    """Create a study with its ``n_trials`` slots, or join / resume an existing one; returns its name."""
    name = study_name(spec, digest, repeat)
    try:
        study = _create(spec, name, storage, optuna.samplers.RandomSampler(seed=0))
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage)
        if not is_rdb(spec.storage):  # under the run lock: nobody else is creating or running it
            enqueue_slots(study, spec.n_trials)
            recover_journal(study)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "slots" not in study.user_attrs:  # another run is still enqueuing them
            if time.monotonic() > deadline:
                raise StorageBusy(
                    f"search.storage: study {name} has no slots (its creator was killed while "
                    f"creating it); delete it with `optuna delete-study --study-name {name}`"
                ) from None
            time.sleep(POLL_S)
        log.info("%s: joining with %d of %d trial(s) finished", name, n_valid(study), spec.n_trials)
        return name
    enqueue_slots(study, spec.n_trials)
    return name


def _shared_worker(table: Table, spec: RunSpec, worker: int, jobs: list[tuple[int, str]]) -> int:
    """One worker process: slots of every study (repeat, name) until none is left waiting."""
    storage = open_storage(spec.storage, spec.heartbeat_s, spec.grace_s)
    ran = 0
    for repeat, name in jobs:
        study = optuna.load_study(study_name=name, storage=storage)
        # a resumed study seeds its samplers afresh: the finished trials are not drawn again
        resumed = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        study.sampler = _sampler(table, spec, sampler_seed(spec.seed, repeat, worker, resumed))
        ran += work_slots(study, storage, table_objective(table, spec, repeat, worker))
    return ran


def _wait_for_slots(study: optuna.Study, storage, spec: RunSpec, table: Table, repeat: int) -> None:
    """Until every slot is finished: slots other machines still hold, or re-enqueued after a dead worker."""
    warned = False
    while n_valid(study) < spec.n_trials:
        if not is_rdb(spec.storage):
            raise StorageBusy(f"search.storage: study {study.study_name} has unfinished slots after the run; rerun")
        if not warned:
            log.info("%s: waiting for slots held by other workers", study.study_name)
            warned = True
        study.sampler = _sampler(table, spec, sampler_seed(spec.seed, repeat, 0, len(study.trials)))
        if work_slots(study, storage, table_objective(table, spec, repeat, 0)) == 0:
            time.sleep(POLL_S)


def run_strategy(table: Table, spec: RunSpec, on_repeat: Callable[[], None] | None = None) -> pd.DataFrame:
    """Every trial of every repeat of ``spec.strategy``, as one frame (see :func:`trials_frame`)."""
    tick = on_repeat or (lambda: None)
    jobs: list[Any]  # in memory: (worker, table, spec, repeat); on a storage: (repeat, study name)
    if spec.storage == "none":
        jobs = [(_run_memory_repeat, table, spec, r) for r in range(spec.repeats)]
        advice = "nothing was written; rerun, with fewer search.n_workers if memory ran out"
        who = f"strategy {spec.strategy}"
        frames = pool_map(star, jobs, spec.n_workers, "search", who, advice, tick, spec.worker_setup)
        return pd.concat(frames, ignore_index=True)

    with contextlib.nullcontext() if is_rdb(spec.storage) else journal_run_lock(spec.storage):
        storage = open_storage(spec.storage, spec.heartbeat_s, spec.grace_s)
        jobs = [(r, prepare_shared(spec, storage, table.digest, r)) for r in range(spec.repeats)]
        pool_map(
            star,
            [(_shared_worker, table, spec, w, jobs) for w in range(spec.n_workers)],
            spec.n_workers,
            "search",
            f"strategy {spec.strategy}",
            "rerun to resume: finished trials are kept",
            setup=spec.worker_setup,
        )
        frames = []
        for repeat, name in jobs:
            study = optuna.load_study(study_name=name, storage=storage)
            _wait_for_slots(study, storage, spec, table, repeat)
            frames.append(trials_frame(study, spec, repeat))
            tick()
    return pd.concat(frames, ignore_index=True)


def run(
    params: SearchParams,
    strategy: str,
    table: Table,
    seed: int = 0,
    progress: Progress = silent,
    worker_setup: Callable[[], None] | None = None,
) -> Result:
    """The ``search@<strategy>`` stage: every repeat of ``strategy`` on every table realization, as the
    ``search`` params ask.

    Realization ``r`` (:meth:`~hyperlab.selection.table.table.Table.realization`) gets
    ``params.repeats`` studies that observe only its seeds, with the same sampler seeds
    in every realization (so two realizations differ by the table's training noise
    alone). The trials are ``products["trials"]`` (one row each, :func:`trials_frame`,
    plus column ``realization``). A study longer than the table's networks is refused (a
    :class:`~hyperlab.selection.table.validate.TableError` line), as is a busy storage
    (:class:`~hyperlab.selection.study.storage.StorageBusy`). ``worker_setup``: see :func:`.pool.pool_map`.
    """
    table.check_trials(params.n_trials, "search.n_trials")
    n_real = params.table_realizations
    frames = []
    with progress(total=params.repeats * n_real, desc=f"search {strategy}") as bar:
        for r in range(n_real):
            part = table.realization(r, n_real)
            spec = dataclasses.replace(RunSpec.of(params, strategy, seed, part), worker_setup=worker_setup)
            trials = run_strategy(part, spec, on_repeat=lambda: bar.update(1))
            trials.insert(1, "realization", r)
            frames.append(trials)
    trials = pd.concat(frames, ignore_index=True)
    return Result(tables={}, metrics={}, report={"summary": describe(trials)}, products={"trials": trials})


def describe(trials: pd.DataFrame) -> str:
    """One log line on a strategy's trials: failures and the median best observed validation error."""
    ok = trials[trials["state"] == "COMPLETE"]
    return (
        f"{int((trials['state'] != 'COMPLETE').sum())} failed; median best observed val error "
        f"{ok.groupby(['realization', 'repeat'])['val_error'].min().median():.4f}"
    )
