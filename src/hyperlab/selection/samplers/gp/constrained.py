"""Constrained GP-EI: expected improvement times the probability of meeting a budget.

Gardner, Kusner, Xu, Weinberger & Cunningham (2014), "Bayesian optimization with
inequality constraints" (ICML): with an independent GP on the constrained
quantity, the acquisition is

    EI_C(x) = EI(x | best feasible observed value) * P(c(x) <= budget),

and while no feasible point has been observed, ``P(c(x) <= budget)`` alone
(find a feasible region first). Here ``c`` is a positive quantity the
objective stores with ``trial.set_user_attr(constraint_attr, c)`` (e.g. the
inference latency in ms) and the GP models ``log c`` (latencies span orders of
magnitude; the same model and validation as the cost of EI per second,
:func:`~hyperlab.selection.samplers.gp.cost_model.trial_cost`). In logs::

    log EI_C = log EI + log Phi((log budget - mu_c) / sigma_c)

with ``mu_c, sigma_c`` the latent mean and standard deviation of ``log c``: the
question is whether the network's *true* latency meets the budget, not one
noisy measurement of it. Everything else (startup, finite pool, claims,
``canonicalize``) is :class:`~hyperlab.selection.samplers.gp.sampler.GPEISampler`'s.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr

from hyperlab.selection.samplers.gp.acquisition import LogEI
from hyperlab.selection.samplers.gp.gp import Posterior
from hyperlab.selection.samplers.gp.sampler import AttrModelGPEISampler, objective_targets


def log_prob_below(mu: np.ndarray, sigma: np.ndarray, bound: float) -> np.ndarray:
    """``log P(X <= bound)`` for ``X ~ N(mu, sigma^2)``; ``sigma == 0`` gives 0 or -inf."""
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    safe = np.where(sigma > 0, sigma, 1.0)
    out = log_ndtr((bound - mu) / safe)
    return np.where(sigma > 0, out, np.where(mu <= bound, 0.0, -np.inf))


class LogConstrainedEI(LogEI):
    """``log EI(x) + log P(c(x) <= budget)``; ``best=None``: the feasibility term alone.

    ``constraint`` is a posterior on standardized ``log c``: ``log c = center + scale * z``.
    """

    def __init__(
        self,
        posterior: Posterior,
        best: float | None,
        constraint: Posterior,
        center: float,
        scale: float,
        log_budget: float,
    ):
        super().__init__(posterior, 0.0 if best is None else best)
        self.use_ei = best is not None
        self.constraint, self.center, self.scale, self.log_budget = constraint, center, scale, log_budget

    def _bound(self) -> float:
        return (self.log_budget - self.center) / self.scale

    def __call__(self, F):
        mu_c, var_c = self.constraint.predict(F)
        feasible = log_prob_below(mu_c, np.sqrt(var_c), self._bound())
        return (super().__call__(F) if self.use_ei else 0.0) + feasible

    def value_and_grad(self, F):
        mu_c, var_c, dmu_c, dvar_c = self.constraint.predict_with_grad(F)
        sigma = np.sqrt(var_c)
        z = (self._bound() - mu_c) / sigma
        log_phi_ratio = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_ndtr(z)  # log(phi(z) / Phi(z))
        dsigma = dvar_c / (2.0 * sigma[:, None])
        dz = (-dmu_c - z[:, None] * dsigma) / sigma[:, None]
        value, grad = log_ndtr(z), np.exp(log_phi_ratio)[:, None] * dz
        if self.use_ei:
            ei, dei = super().value_and_grad(F)
            value, grad = value + ei, grad + dei
        return value, grad


class ConstrainedGPEISampler(AttrModelGPEISampler):
    """GP-EI under ``c(x) <= budget`` (Gardner et al. 2014), ``c`` read from a trial user attribute.

    Args:
        budget: the bound on ``c`` (> 0).
        constraint_attr: the user attribute holding ``c`` (positive, finite).
        **kwargs: as :class:`GPEISampler`.
    """

    def __init__(self, *, budget: float, constraint_attr: str = "latency_ms", **kwargs):
        if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
            raise ValueError(f"budget must be a positive finite number, got {budget!r}")
        super().__init__(attr=constraint_attr, **kwargs)
        self._budget = float(budget)

    def _with_attr_model(self, study, done, failed, acq, incumbents, model):
        con_post, values, have, center, scale = model
        # best *feasible* observed value, on the objective's standardized scale (as the base class computes it)
        z = objective_targets(study, done, failed)[: len(done)]
        feasible = [i for i in have if values[i] <= self._budget]
        best = float(np.min(z[feasible])) if feasible else None
        if feasible:
            incumbents = acq.posterior.X[feasible][np.argsort(z[feasible])[:5]]
        return LogConstrainedEI(acq.posterior, best, con_post, center, scale, math.log(self._budget)), incumbents


__all__ = ["ConstrainedGPEISampler", "LogConstrainedEI", "log_prob_below"]
