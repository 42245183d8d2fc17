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
- ``storage=<file path>``: Optuna ``JournalStorage(JournalFileBackend(path))``;
  ``storage=<URL>`` (``postgresql://...``): an RDB storage. Then the
  ``n_workers`` processes all work on every study at once, as Optuna's
  distributed optimization does, each with its own sampler seed; the trials of
  a study are split exactly between them, so none is lost or run twice.
  Study names carry a fingerprint of everything that determines the results
  (strategy, seed, trials, startup, cost, the table's content), so changed
  params never mix with old trials; an interrupted run of the same params
  resumes: its dangling RUNNING trials are marked FAIL with the user attribute
  ``interrupted`` (and left out of the results), and only the missing trials run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import warnings
from typing import Callable

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from hyperlab.selection.benchmark import (NetworkFailed, TableObjective, arch_of_params, canonical_params,
                                          network_params, space_of)
from hyperlab.selection.cost_tpe import CostAwareTPESampler
from hyperlab.selection.gp import ConstrainedGPEISampler, GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.network_random import NetworkRandomSampler, layer_uniform_weights

log = logging.getLogger(__name__)

STRATEGIES = ("random_uniform", "random", "gp_ei", "tpe", "gp_ei_per_second", "tpe_per_second",
              "gp_ei_constrained", "tpe_constrained", "motpe")
MULTI_OBJECTIVE = ("motpe",)
CONSTRAINED = ("gp_ei_constrained", "tpe_constrained")


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


def open_storage(storage: str):
    if storage == "none":
        return None
    if "://" in storage:
        return storage  # an RDB URL; Optuna builds the RDBStorage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    return JournalStorage(JournalFileBackend(storage))


def _create(spec: RunSpec, name: str, storage, sampler) -> optuna.Study:
    directions = ["minimize", "minimize"] if spec.strategy in MULTI_OBJECTIVE else ["minimize"]
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions,
                               load_if_exists=storage is not None)


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


def _valid(trial) -> bool:
    return trial.state.is_finished() and not trial.user_attrs.get("interrupted", False)


def trials_frame(study: optuna.Study, spec: RunSpec, repeat: int) -> pd.DataFrame:
    """The first ``n_trials`` valid finished trials of ``study``, one row each."""
    trials = sorted((t for t in study.get_trials(deepcopy=False) if _valid(t)), key=lambda t: t.number)
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


def _prepare_shared(spec: RunSpec, storage, digest: str, repeat: int) -> tuple[str, int, int]:
    """Create or resume one study; returns (name, valid finished trials, trials still to run)."""
    name = study_name(spec, digest, repeat)
    study = _create(spec, name, storage, optuna.samplers.RandomSampler(seed=0))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        # left by a killed run (no worker of ours is alive now): fail it so no sampler waits on it
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    done = sum(_valid(t) for t in study.get_trials(deepcopy=False))
    if done:
        log.info("%s: resuming with %d finished trial(s)", name, done)
    return name, done, max(spec.n_trials - done, 0)


def _shared_worker(table: pd.DataFrame, spec: RunSpec, worker: int, jobs: list[tuple[int, str, int, int]]) -> int:
    """One worker process: its share of trials of every study (repeat, name, resumed, n)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(spec.storage)
    ran = 0
    for repeat, name, resumed, n in jobs:
        sampler = make_sampler(spec.strategy, sampler_seed(spec.seed, repeat, worker, resumed),
                               spec.n_startup_trials, Networks.of(table), spec.budget)
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        _optimize(study, _objective(table, spec, repeat, worker), n)
        ran += n
    return ran


def _star(args):
    fn, *rest = args
    return fn(*rest)


def run_strategy(table: pd.DataFrame, spec: RunSpec, on_repeat: Callable[[], None] | None = None) -> pd.DataFrame:
    """Every trial of every repeat of ``spec.strategy``, as one frame (see :func:`trials_frame`)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tick = on_repeat or (lambda: None)
    ctx = multiprocessing.get_context("spawn")
    if spec.storage == "none":
        jobs = [(_run_memory_repeat, table, spec, r) for r in range(spec.repeats)]
        if spec.n_workers == 1:
            frames = []
            for job in jobs:
                frames.append(_star(job))
                tick()
        else:
            with ctx.Pool(spec.n_workers) as pool:
                frames = []
                for frame in pool.imap(_star, jobs):
                    frames.append(frame)
                    tick()
        return pd.concat(frames, ignore_index=True)

    storage = open_storage(spec.storage)
    digest = table_digest(table)
    prepared = [(r, *_prepare_shared(spec, storage, digest, r)) for r in range(spec.repeats)]
    shares = [[] for _ in range(spec.n_workers)]
    for repeat, name, done, todo in prepared:
        for w in range(spec.n_workers):
            n = todo // spec.n_workers + (w < todo % spec.n_workers)
            shares[w].append((repeat, name, done, n))
    if spec.n_workers == 1:
        _shared_worker(table, spec, 0, shares[0])
    else:
        with ctx.Pool(spec.n_workers) as pool:
            pool.map(_star, [(_shared_worker, table, spec, w, shares[w]) for w in range(spec.n_workers)])
    frames = []
    for repeat, name, _, _ in prepared:
        study = optuna.load_study(study_name=name, storage=storage)
        frames.append(trials_frame(study, spec, repeat))
        tick()
    return pd.concat(frames, ignore_index=True)
