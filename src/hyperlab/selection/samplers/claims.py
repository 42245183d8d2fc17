"""Claim-then-check: how a sampler keeps concurrent trials from taking one point.

A sampler that must not repeat a point (a GP in a finite space, random search
without replacement) chooses a point no other trial has, then *claims* it in
its trial's system attributes, where every process sharing the storage reads
it. Choosing and claiming are two storage operations, so two processes can
choose the same point in between; hence the check: after writing its claim, a
trial reads the study back and, if another trial has the same point (by its
params or by its claim), chooses again. Each of two colliding trials writes
before it reads, so each sees the other's claim and both move on; a random
back-off between attempts keeps them from colliding again in lock step.
Once the other trials take every point, a repeat is unavoidable: the choice
stands at once, without a retry (which could only sleep, and draw with fresh
entropy what a seeded run must draw the same way every time).

One implementation for every sampler here (:mod:`.gp.sampler`,
:mod:`.network_random`), so they share one guarantee: no repeat while an
untaken point remains, up to :data:`ATTEMPTS` collisions in a row.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

#: States whose claim still holds: the trial will be evaluated at its claimed point.
ALIVE = (TrialState.RUNNING, TrialState.WAITING)
#: Collisions tolerated in a row before a trial keeps its last choice (with k processes, a retry collides
#: with probability < k / (untaken points); eight in a row does not happen while points remain).
ATTEMPTS = 8
BACKOFF_S = 0.02  # attempt k sleeps up to k * BACKOFF_S: long enough for the other process's claim to land

P = TypeVar("P")


def write_claim(study: Study, trial: FrozenTrial, attr: str, value: Any) -> None:
    """Record ``value`` (JSON-serializable) as ``trial``'s claim under the system attribute ``attr``."""
    # Optuna 5.0.0 has no public call for a sampler to annotate a trial; its own GPSampler uses this one
    # (tests/test_selection_study_storage.py pins that other readers of the study see the claim).
    study._storage.set_trial_system_attr(trial._trial_id, attr, value)


def alive_claims(trials: list[FrozenTrial], attr: str) -> list[tuple[FrozenTrial, Any]]:
    """``(trial, claim)`` of every trial still to be evaluated (RUNNING or WAITING) that holds a claim."""
    return [(t, t.system_attrs[attr]) for t in trials if t.state in ALIVE and attr in t.system_attrs]


def others(study: Study, trial: FrozenTrial) -> list[FrozenTrial]:
    """Every trial of ``study`` but ``trial``, read from the storage now."""
    return [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]


def claim_checked(
    study: Study,
    trial: FrozenTrial,
    attr: str,
    choose: Callable[[int, np.random.Generator], P],
    encode: Callable[[P], Any],
    taken: Callable[[list[FrozenTrial], P], bool],
    guard: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    every_point_taken: Callable[[list[FrozenTrial]], bool] = lambda trials: False,
) -> P:
    """Choose a point, claim it, and choose again while another trial has it.

    Args:
        attr: the system attribute holding the claim.
        choose: ``(attempt, rng) -> point``; attempt 0 is the first choice (it must not touch ``rng``,
            so a run without collisions draws exactly what it drew without this check), attempt k >= 1
            a retry, which may use ``rng`` (fresh entropy: colliding processes must not agree).
        encode: the point as stored in the claim.
        taken: whether the point is taken by one of the given (other) trials, by params or by claim.
        guard: held around each choice and its claim (a sampler's lock: the threads of one
            process then never collide, as each sees the claims of those before it).
        every_point_taken: whether the given (other) trials take every point of the space, by params or by
            claim (never, in a space too large to use up); then the choice stands as it is.
    """
    rng = np.random.default_rng()
    with guard():
        point = choose(0, rng)
        write_claim(study, trial, attr, encode(point))
    for attempt in range(1, ATTEMPTS + 1):
        trials = others(study, trial)  # claims, and trials finished meanwhile
        if not taken(trials, point) or every_point_taken(trials):
            return point
        time.sleep(rng.uniform(0.0, BACKOFF_S * attempt))
        with guard():
            point = choose(attempt, rng)
            write_claim(study, trial, attr, encode(point))
    return point


__all__ = ["ALIVE", "ATTEMPTS", "alive_claims", "claim_checked", "others", "write_claim"]
