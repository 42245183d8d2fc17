"""TPE with a cost-aware acquisition ("TPE per second").

No published "TPE per second" exists (REFERENCES.md §1). Optuna's TPE
(Bergstra et al. 2011; Watanabe 2023, arXiv 2304.11127) draws candidates from
``l(x)``, the Parzen density of the good trials, and keeps the one maximizing
``log l(x) - log g(x)`` (``g``: density of the other trials). The cost-aware
version adds the log of the expected inverse cost, exactly as EI per second
multiplies EI by it (Snoek et al. 2012, §3.2):

    acq(x) = log l(x) - log g(x) + log E[1/c(x)]
           = log l(x) - log g(x) - mu_c(x) + sigma_c(x)^2 / 2,

where ``mu_c, sigma_c`` are the posterior mean and standard deviation of an
independent GP on ``log c`` (:class:`hyperlab.selection.gp_sampler.GPModel`,
the same model as :class:`~hyperlab.selection.gp_sampler.GPEIPerSecondSampler`),
fitted to the completed trials' user attribute ``cost_attr``. Equivalently the
candidate maximizes ``l(x) / g(x) * E[1/c(x)]``.

The hook is Optuna's private ``TPESampler._compute_acquisition_func`` (and
``_sample``, to see the study). Both are checked on construction against the
signatures of the pinned Optuna 5.0.0 and :mod:`tests.test_search_samplers`
checks the hook is on the sampling path, so an Optuna change fails loudly
instead of silently turning this back into plain TPE.
"""

from __future__ import annotations

import inspect
import logging
import math
import warnings

import numpy as np
import optuna
from optuna.samplers import TPESampler
from optuna.trial import TrialState

from hyperlab.selection.gp_sampler import (GPModel, SpaceEncoder, log_expected_inverse_cost,
                                           single_threaded_blas)

log = logging.getLogger(__name__)

TESTED_OPTUNA = ("5.0.0",)
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
                f"{', '.join(TESTED_OPTUNA)} (pinned in pyproject.toml)")
    if optuna.__version__ not in TESTED_OPTUNA:
        warnings.warn(f"CostAwareTPESampler was tested with optuna {TESTED_OPTUNA}, "
                      f"not {optuna.__version__}", RuntimeWarning, stacklevel=3)


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
        self._cost_gp = GPModel()
        self._cost_term = None  # set for the duration of one _sample call

    def _sample(self, study, trial, search_space):
        with single_threaded_blas():
            self._cost_term = self._fit_cost_term(study, trial, search_space)
            try:
                return super()._sample(study, trial, search_space)
            finally:
                self._cost_term = None

    def _compute_acquisition_func(self, samples, mpe_below, mpe_above):
        acq = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        if self._cost_term is not None:
            acq = acq + self._cost_term(samples)
        return acq

    def _fit_cost_term(self, study, trial, search_space):
        """``samples -> log E[1/c]`` from a GP on log cost, or None when it cannot be fitted."""
        enc = SpaceEncoder(search_space)
        rows, costs = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            c = t.user_attrs.get(self._cost_attr)
            if search_space.keys() <= t.params.keys() and c is not None and math.isfinite(c) and c > 0:
                rows.append(enc.internal_of(t.params))
                costs.append(math.log(c))
        if not rows:
            return None
        try:
            gp = self._cost_gp.fit(enc.features(np.stack(rows)), np.array(costs))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as err:
            log.debug("cost GP failed (%s); plain TPE for this trial", err)
            return None

        def term(samples: dict[str, np.ndarray]) -> np.ndarray:
            internal = np.stack([np.asarray(samples[n], dtype=float) for n in enc.names], axis=1)
            mu_c, sd_c = GPModel.predict(gp, enc.features(internal))
            return log_expected_inverse_cost(mu_c, sd_c)

        return term


__all__ = ["CostAwareTPESampler", "check_private_api", "TESTED_OPTUNA"]
