"""TPE with a cost-aware acquisition ("TPE per second").

No published "TPE per second" exists (docs/REFERENCES.md §1). Optuna's TPE
(Bergstra et al. 2011; Watanabe 2023, arXiv 2304.11127) draws candidates from
``l(x)``, the Parzen density of the good trials, and keeps the one maximizing
``log l(x) - log g(x)`` (``g``: density of the other trials). The cost-aware
version adds the log of the expected inverse cost, exactly as EI per second
multiplies EI by it (Snoek et al. 2012, §3.2):

    acq(x) = log l(x) - log g(x) + log E[1/c(x)]
           = log l(x) - log g(x) - mu_c(x) + sigma_c(x)^2 / 2,

where ``mu_c, sigma_c`` are the posterior mean and predictive standard
deviation of an independent GP on ``log c`` (:mod:`hyperlab.selection.samplers.gp`, the
same model and the same cost validation,
:func:`~hyperlab.selection.samplers.gp.cost_model.trial_cost`, as
:class:`~hyperlab.selection.samplers.gp.GPEIPerSecondSampler`), fitted to the completed
trials' user attribute ``cost_attr``. Equivalently the candidate maximizes
``l(x) / g(x) * E[1/c(x)]``.

Thread safety: the cost term of a suggestion travels in a
:class:`contextvars.ContextVar`, never on the instance, so concurrent
suggestions (``study.optimize(n_jobs=4)``) cannot see each other's. Each search
space (the multivariate one, and each 1-D space of independent sampling) keeps
its own warm-started kernel hyperparameters.

The hook is Optuna's private ``TPESampler._compute_acquisition_func`` (and
``_sample``, to see the study). Both are checked on construction against the
signatures of the pinned Optuna 5.0.0 and :mod:`tests.test_selection_samplers`
checks the hook is on the sampling path, so an Optuna change fails loudly
instead of silently turning this back into plain TPE.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
import warnings

import numpy as np
import optuna
from optuna.samplers import TPESampler
from optuna.trial import TrialState

from hyperlab.selection.samplers.gp.acquisition import log_expected_inverse_cost
from hyperlab.selection.samplers.gp.cost_model import trial_cost
from hyperlab.selection.samplers.gp.gp import WarmFits, standardize
from hyperlab.selection.samplers.gp.search_space import SearchSpace
from hyperlab.selection.samplers.gp.threads import single_threaded_blas

log = logging.getLogger(__name__)

TESTED_OPTUNA = ("5.0.0",)
_COST_TERM: contextvars.ContextVar = contextvars.ContextVar("hyperlab_cost_term", default=None)
_PRIVATE_API = {
    "_sample": ["self", "study", "trial", "search_space"],
    "_compute_acquisition_func": ["self", "samples", "mpe_below", "mpe_above"],
}


def check_private_api() -> None:
    """Raise if the private TPE methods this sampler overrides changed shape."""
    for name, expected in _PRIVATE_API.items():
        method = getattr(TPESampler, name, None)
        got = list(inspect.signature(method).parameters) if method is not None else None
        if got != expected:
            raise RuntimeError(
                f"CostAwareTPESampler needs optuna.samplers.TPESampler.{name}{tuple(expected)}, "
                f"found {got} in optuna {optuna.__version__}; it was written for optuna "
                f"{', '.join(TESTED_OPTUNA)} (pinned in pyproject.toml)"
            )
    if optuna.__version__ not in TESTED_OPTUNA:
        warnings.warn(
            f"CostAwareTPESampler was tested with optuna {TESTED_OPTUNA}, not {optuna.__version__}",
            RuntimeWarning,
            stacklevel=3,
        )


class CostAwareTPESampler(TPESampler):
    """Multivariate TPE whose acquisition is ``log l - log g - mu_c + sigma_c^2 / 2``.

    Takes every :class:`~optuna.samplers.TPESampler` keyword plus ``cost_attr``,
    the trial user attribute holding a positive cost. In multivariate mode (the
    Optuna 5.0 default for one objective) the cost GP sees every parameter; in
    independent mode it models the cost along the one parameter being sampled.
    Until a completed trial has a cost it is plain TPE.
    """

    def __init__(self, *, cost_attr: str = "cost", **kwargs):
        check_private_api()
        super().__init__(**kwargs)
        self._cost_attr = cost_attr
        self._fits = WarmFits()
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # one cost fit at a time: concurrent BLAS calls from threads only contend

    def _sample(self, study, trial, search_space):
        with single_threaded_blas(), self._lock:
            token = _COST_TERM.set(self._fit_cost_term(study, search_space))
        try:
            return super()._sample(study, trial, search_space)
        finally:
            _COST_TERM.reset(token)

    def _compute_acquisition_func(self, samples, mpe_below, mpe_above):
        acq = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        term = _COST_TERM.get()
        return acq if term is None else acq + term(samples)

    def _fit_cost_term(self, study, search_space):
        """``samples -> log E[1/c]`` from a GP on log cost, or None while no completed trial has a cost."""
        space = SearchSpace(search_space)
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if space.covers(t)]
        costs = [(t, trial_cost(t, self._cost_attr)) for t in done]
        have = [(t, c) for t, c in costs if c is not None]
        if len(have) < len(done) and (study.study_name, "missing") not in self._warned:
            self._warned.add((study.study_name, "missing"))
            log.warning(
                "CostAwareTPESampler, study %r: %d completed trial(s) have no user attribute %r; "
                "left out of the cost model",
                study.study_name,
                len(done) - len(have),
                self._cost_attr,
            )
        if not have:
            return None
        X = space.features([t.params for t, _ in have])
        z, _, scale = standardize(np.log([c for _, c in have]))
        try:
            gp = self._fits.posterior((study.study_name, space.key()), X, z, space.is_categorical)
        except (np.linalg.LinAlgError, FloatingPointError) as err:
            if (study.study_name, "fit") not in self._warned:
                self._warned.add((study.study_name, "fit"))
                log.warning(
                    "CostAwareTPESampler, study %r: the cost GP could not be fitted (%s); plain TPE until it can",
                    study.study_name,
                    err,
                )
            return None

        def term(samples: dict[str, np.ndarray]) -> np.ndarray:
            internal = [np.asarray(samples[n], dtype=float) for n in space.names]
            F = space.features_of_internal(np.stack(internal, axis=1))
            mu_c, var_c = gp.predict(F)
            return log_expected_inverse_cost(scale * mu_c, scale * np.sqrt(var_c + gp.kernel.noise))

        return term


__all__ = ["CostAwareTPESampler", "check_private_api", "TESTED_OPTUNA"]
