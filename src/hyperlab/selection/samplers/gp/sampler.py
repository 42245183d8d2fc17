"""GP-EI and EI-per-second samplers for Optuna, without PyTorch.

Both are ordinary :class:`optuna.samplers.BaseSampler` subclasses, so they drop
into any single-objective study::

    study = optuna.create_study(sampler=GPEISampler(seed=0))

A suggestion (Snoek, Larochelle & Adams 2012, arXiv 1206.2944):

1. the first ``n_startup_trials`` completed trials are drawn at random
   (uniformly among the points not yet taken, in a finite space);
2. then a GP (:mod:`.gp`: Matern-5/2 ARD, MAP hyperparameters under priors,
   standardized targets) is fitted to the completed trials, and
3. log expected improvement on the latent function (:mod:`.acquisition`) is
   maximized (:mod:`.optim`): over every untaken point of a finite space with at
   most ``max_enumerate`` points, else by quasi-random candidates and L-BFGS-B /
   coordinate search from the best of them.

Kernel hyperparameters are re-optimized from two starts (the previous optimum
and a default) whenever the data grew by 5 % (every trial below 64 points;
:class:`~hyperlab.selection.samplers.gp.gp.WarmFits`); in between the GP is conditioned
on the new data with the hyperparameters it has.

Threads and workers: every random choice comes from the sampler's seeded stream; one lock per
sampler serializes the choice of a point, and the point is *claimed* in the trial's system
attributes before the objective runs (:mod:`hyperlab.selection.samplers.claims`). In a finite
space no point is taken twice -- by threads of one process or by processes sharing a storage
(claims are read back and a collision is chosen again after a random back-off) -- while untaken
points remain. Running trials (their claims) enter the GP with fantasy values, kriging believer
then constant liar (:mod:`.pending`; Ginsbourger et al. 2010), and in a continuous space a point
next to a running trial's is chosen again: concurrent workers spread out there too.
Conditional parameters (present in only some trials) are sampled at random.
Failed and pruned trials count as the worst completed value in the GP, and
their points are never suggested again.

Several encodings of one thing (e.g. a network's widths beyond its depth,
which the objective ignores): ``canonicalize`` maps a parameter dict to its
canonical form; the finite pool then holds the canonical points only (its
random startup draws are uniform over the *things*), every trial's point is
read canonically (GP data, taken points), so nothing is suggested twice while
an untaken one remains. Without it, every point is its own thing.

Multi-objective studies are refused with a ``ValueError``. A GP that cannot
be fitted (e.g. a singular kernel) falls back to a random point, with one
WARNING per study saying why.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hyperlab.selection.samplers.claims import ALIVE, claim_checked
from hyperlab.selection.samplers.gp.acquisition import LogEI, LogEIPerSecond
from hyperlab.selection.samplers.gp.cost_model import trial_cost
from hyperlab.selection.samplers.gp.gp import Posterior, WarmFits, standardize
from hyperlab.selection.samplers.gp.optim import Effort, argmax_of, evaluate, key_of, keys_of, maximize
from hyperlab.selection.samplers.gp.pending import Pending, near_running, running_points, with_fantasies
from hyperlab.selection.samplers.gp.search_space import SearchSpace
from hyperlab.selection.samplers.gp.threads import single_threaded_blas

log = logging.getLogger(__name__)

CLAIM_ATTR = "hyperlab:gp_point"  # system attribute: the features a running trial was given


def _child_seed(seed: int | None, i: int) -> int | None:
    """Independent streams from one seed (the startup draws and Optuna's RandomSampler must differ)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0] & 0x7FFFFFFF)


def check_single_objective(sampler: BaseSampler, study: Study) -> None:
    if len(study.directions) > 1:
        raise ValueError(
            f"{type(sampler).__name__} supports single-objective studies only; this study has "
            f"{len(study.directions)} objectives (use optuna.samplers.TPESampler for several)"
        )


def objective_targets(study: Study, done: list[FrozenTrial], failed: list[FrozenTrial]) -> np.ndarray:
    """Standardized GP targets, minimization: the completed values, then each failed trial at the worst one."""
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    y = sign * np.array([t.value for t in done], dtype=float)
    return standardize(np.concatenate([y, np.full(len(failed), y.max())]))[0]


class GPEISampler(BaseSampler):
    """Bayesian optimization with a GP and (log) expected improvement.

    Args:
        n_startup_trials: completed trials sampled at random before the GP is used.
        n_candidates: quasi-random candidates scored per suggestion in a space too large to list.
        max_enumerate: a finite space with at most this many points is searched exhaustively.
        seed: seeds every random choice (startup, candidates, ties).
        canonicalize: optional ``params -> params`` giving the canonical encoding of a point (see above);
            it must be idempotent and return the same keys.
        independent_sampler: optional sampler for the parameters outside the relative search space (e.g.
            every parameter until a trial completes); default Optuna's ``RandomSampler``.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_candidates: int = 1024,
        max_enumerate: int = 20000,
        seed: int | None = None,
        canonicalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        independent_sampler: BaseSampler | None = None,
    ):
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {n_startup_trials}")
        self._n_startup_trials = n_startup_trials
        self._n_candidates = n_candidates
        self._max_enumerate = max_enumerate
        self._rng = np.random.RandomState(_child_seed(seed, 0))
        self._random_sampler = independent_sampler or RandomSampler(seed=_child_seed(seed, 1))
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._lock = threading.RLock()
        self._fits = WarmFits()
        self._warned: set[tuple[str, str]] = set()
        self._canonicalize = canonicalize
        self._pools: dict[tuple, np.ndarray] = {}

    def reseed_rng(self) -> None:
        self._rng = np.random.RandomState()
        self._random_sampler.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        check_single_objective(self, study)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        check_single_objective(self, study)
        with self._lock:  # IntersectionSearchSpace caches what it has read
            space = self._space.calculate(study)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        check_single_objective(self, study)
        return self._random_sampler.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        check_single_objective(self, study)
        if not search_space:
            return {}
        space = SearchSpace(search_space)
        finite = math.isfinite(space.size())
        point = claim_checked(
            study,
            trial,
            CLAIM_ATTR,
            choose=lambda attempt, rng: self._suggest(study, trial, space, attempt + 1, rng if attempt else None),
            encode=lambda p: [float(v) for v in p],
            # finite: no point twice; continuous: not next to a running trial's point (.pending)
            taken=lambda others, p: (
                key_of(p) in self._taken(others, space)
                if finite
                else near_running(p, others, space, CLAIM_ATTR, self._params_of)
            ),
            guard=self._guarded,
            every_point_taken=lambda others: (
                space.size() <= self._max_enumerate
                and set(keys_of(self._canonical_pool(space))) <= self._taken(others, space)
            ),
        )
        return space.params(point)

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """Held while choosing and claiming a point: one thread at a time (the next sees the claim)."""
        with single_threaded_blas(), self._lock:
            yield

    # ---- the choice of a point
    def _suggest(
        self,
        study: Study,
        trial: FrozenTrial,
        space: SearchSpace,
        spread: int = 1,
        spread_rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """The point to claim; ``spread > 1`` (a retry after a collision): running trials enter as the constant
        liar (:mod:`.pending`), and in a finite space one of the ``spread`` best untaken points is drawn with
        ``spread_rng``, so two processes that share one model stop choosing the same argmax again and again
        (both colliding trials choose again, :func:`~hyperlab.selection.samplers.claims.claim_checked`)."""
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        # cast: a complete single-objective trial has its value
        done = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE and space.covers(t) and math.isfinite(cast(float, t.value))
        ]
        taken = self._taken(trials, space)  # in a continuous space too: a failed point must not repeat
        pool = None
        if space.size() <= self._max_enumerate:
            pool = self._canonical_pool(space)
            fresh = np.array([k not in taken for k in keys_of(pool)], dtype=bool)
            if fresh.any():  # once every point is taken, repeats are unavoidable
                pool = pool[fresh]
        if len(done) < self._n_startup_trials:
            return pool[self._rng.randint(len(pool))] if pool is not None else space.sample(self._rng, 1)[0]
        failed = [t for t in trials if t.state in (TrialState.FAIL, TrialState.PRUNED) and space.covers(t)]
        # running trials: believed at first, the worst value on a retry (a choice next to one, .pending)
        pending = Pending(running_points(trials, space, CLAIM_ATTR, self._params_of), pessimistic=spread > 1)
        try:
            acq, incumbents = self._acquisition(study, space, done, failed, pending)
        except (np.linalg.LinAlgError, FloatingPointError) as err:
            self._warn_once(study, "fit", f"the GP could not be fitted ({err}); sampling at random")
            return pool[self._rng.randint(len(pool))] if pool is not None else space.sample(self._rng, 1)[0]
        if pool is not None:
            values = evaluate(acq, pool)
            if spread > 1 and spread_rng is not None and len(pool) > 1:
                best = np.argsort(-values, kind="stable")[:spread]
                return pool[best[spread_rng.integers(len(best))]]
            return pool[argmax_of(values, self._rng)]
        return maximize(acq, space, self._rng, incumbents, taken, Effort(n_candidates=self._n_candidates))

    def _acquisition(self, study: Study, space: SearchSpace, done: list[FrozenTrial], failed: list, pending=None):
        """The acquisition to maximize and the features of the best few observed points.

        Failed and pruned trials enter the GP with the worst completed value, so
        the model learns to avoid a region where the objective fails instead of
        proposing it again and again (the rows of ``done`` come first). The
        ``pending`` running trials enter after them, with fantasy values (:mod:`.pending`).
        """
        X = space.features([self._params_of(t) for t in done + failed])
        z = objective_targets(study, done, failed)
        post = self._posterior(study, space, "objective", X, z, pending)
        incumbents = X[np.argsort(z[: len(done)])[:5]]
        return LogEI(post, float(z.min())), incumbents

    def _posterior(
        self, study: Study, space: SearchSpace, target: str, X: np.ndarray, z: np.ndarray, pending=None
    ) -> Posterior:
        post = self._fits.posterior((study.study_name, space.key(), target), X, z, space.is_categorical)
        return with_fantasies(post, pending)

    # ---- canonical points (``canonicalize``)
    def _params_of(self, trial: FrozenTrial) -> dict[str, Any]:
        return self._canonicalize(trial.params) if self._canonicalize is not None else trial.params

    def _canonical_pool(self, space: SearchSpace) -> np.ndarray:
        """Every point of the finite space, or only its canonical ones (cached per space)."""
        if self._canonicalize is None:
            return space.enumerate()
        if space.key() not in self._pools:
            pool = space.enumerate()
            canon = space.features([self._canonicalize(space.params(p)) for p in pool])
            keep = np.array([a == b for a, b in zip(keys_of(pool), keys_of(canon))], dtype=bool)
            self._pools[space.key()] = pool[keep] if keep.any() else pool
        return self._pools[space.key()]

    # ---- points taken by other trials
    def _taken(self, trials: list[FrozenTrial], space: SearchSpace) -> set:
        """Features of every other trial's point: its (canonical) params, or the claim of a running trial."""
        with_params = [t for t in trials if space.covers(t)]
        taken = set(keys_of(space.features([self._params_of(t) for t in with_params]))) if with_params else set()
        for t in trials:
            claim = t.system_attrs.get(CLAIM_ATTR) if t.state in ALIVE else None
            if claim is not None and len(claim) == space.dim:
                taken.add(key_of(np.array(claim)))
        return taken

    def _warn_once(self, study: Study, kind: str, message: str) -> None:
        key = (study.study_name, kind)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s, study %r: %s", type(self).__name__, study.study_name, message)


class AttrModelGPEISampler(GPEISampler):
    """GP-EI whose acquisition also reads an independent GP on ``log`` of the trial user attribute ``attr``
    (a cost, a constrained quantity); plain EI until a completed trial has the attribute.

    A subclass says how the two models make one acquisition (:meth:`_with_attr_model`).
    """

    def __init__(self, *, attr: str, **kwargs):
        super().__init__(**kwargs)
        self._attr = attr

    def _acquisition(self, study, space, done, failed, pending=None):
        acq, incumbents = super()._acquisition(study, space, done, failed, pending)
        model = self._log_attr_model(study, space, done, acq.posterior.X[: len(done)], self._attr, pending)
        if model is None:
            return acq, incumbents
        return self._with_attr_model(study, done, failed, acq, incumbents, model)

    def _with_attr_model(self, study, done, failed, acq, incumbents, model):
        """The acquisition and incumbents, given the attribute's ``model`` (:meth:`_log_attr_model`)."""
        raise NotImplementedError

    def _log_attr_model(
        self, study: Study, space: SearchSpace, done: list[FrozenTrial], X: np.ndarray, attr: str, pending=None
    ):
        """A GP on ``log`` of a positive trial attribute (a cost, a constraint), or None when no trial has it.

        Returns ``(posterior, values, have, center, scale)``: ``values[i]`` is trial
        ``done[i]``'s validated attribute (None when missing), ``have`` the indices
        with one, and ``log value = center + scale * z``. ``X``: the features of ``done``;
        ``pending``: running trials, conditioned on with fantasy values (:mod:`.pending`).
        """
        values = [trial_cost(t, attr) for t in done]
        have = [i for i, c in enumerate(values) if c is not None]
        if len(have) < len(done):
            self._warn_once(
                study,
                attr,
                f"{len(done) - len(have)} completed trial(s) have no user attribute {attr!r}; left out of its model",
            )
        if not have:
            return None
        z, center, scale = standardize(np.log([cast(float, values[i]) for i in have]))  # have: the ones not None
        return self._posterior(study, space, attr, X[have], z, pending), values, have, center, scale


class GPEIPerSecondSampler(AttrModelGPEISampler):
    """EI per second (Snoek et al. 2012, section 3.2): ``log EI(x) - mu_c(x) + sigma_c(x)^2 / 2``.

    ``mu_c, sigma_c`` come from an independent GP on ``log c``, ``c`` being the
    cost the objective stores with ``trial.set_user_attr(cost_attr, c)``; see
    :func:`hyperlab.selection.samplers.gp.cost_model.trial_cost` for what counts as a cost.
    Until a completed trial has a cost it is plain EI.
    """

    def __init__(self, *, cost_attr: str = "cost", **kwargs):
        super().__init__(attr=cost_attr, **kwargs)

    def _with_attr_model(self, study, done, failed, acq, incumbents, model):
        cost_post, _, _, _, scale = model
        return LogEIPerSecond(acq.posterior, acq.best, cost_post, scale), incumbents


__all__ = ["GPEISampler", "GPEIPerSecondSampler", "CLAIM_ATTR", "check_single_objective"]
