"""Acquisition functions: expected improvement, its logarithm, and EI per second.

For minimization with best observed (standardized) value ``f*``, latent mean
``mu`` and latent standard deviation ``sigma`` (the observation noise is *not*
included: EI values improving the function, not re-drawing the noise)::

    z  = (f* - mu) / sigma
    EI = sigma h(z),   h(z) = phi(z) + z Phi(z)                      (Jones et al. 1998; Snoek et al. 2012, eq. 2)

``log EI = log h(z) + log sigma`` is computed without underflow for very
negative ``z`` (Ament et al. 2023, "Unexpected improvements to expected
improvement", arXiv 2310.20708, eq. 9), so far from the incumbent the
acquisition still has a slope where plain EI is a flat 0.

EI per second (Snoek et al. 2012, section 3.2) multiplies EI by the expected
inverse cost under an independent GP on ``log c``: with
``log c ~ N(mu_c, sigma_c^2)``, ``E[1/c] = exp(-mu_c + sigma_c^2 / 2)``; in logs
it adds ``-mu_c + sigma_c^2 / 2``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from hyperlab.selection.samplers.gp.gp import Posterior

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_C1 = 0.5 * math.log(2.0 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends (Maechler 2012)."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(np.minimum(x, -1e-300))), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z Phi(z))`` for any real ``z`` (Ament et al. 2023, eq. 9)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    mid = z > -1.0
    zm = z[mid]
    out[mid] = np.log(np.exp(-0.5 * zm * zm) / _SQRT_2PI + zm * ndtr(zm))
    tail = ~mid & (z > -_INV_SQRT_EPS)
    zt = z[tail]
    out[tail] = -0.5 * zt * zt - _C1 + _log1mexp(np.log(erfcx(-zt / math.sqrt(2.0)) * np.abs(zt)) + _C2)
    far = ~mid & ~tail
    zf = z[far]
    out[far] = -0.5 * zf * zf - _C1 - 2.0 * np.log(np.abs(zf))
    return out


def log_ei(mu: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """``log EI`` from the latent mean and variance."""
    sigma = np.sqrt(var)
    return log_h((best - mu) / sigma) + np.log(sigma)


def log_ei_with_grad(mu, var, dmu, dvar, best: float):
    """``log EI`` and its gradient from the mean / variance and their (m, d) gradients.

    ``d log h / dz = Phi(z) / h(z)``; ``z = (f* - mu) / sigma``.
    """
    sigma = np.sqrt(var)
    z = (best - mu) / sigma
    lh = log_h(z)
    ratio = np.exp(log_ndtr(z) - lh)  # Phi(z) / h(z), finite for every z
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = (-dmu - z[:, None] * dsigma) / sigma[:, None]
    return lh + np.log(sigma), ratio[:, None] * dz + dsigma / sigma[:, None]


def log_expected_inverse_cost(mu_c: np.ndarray, sigma_c: np.ndarray) -> np.ndarray:
    """``log E[1/c]`` for ``log c ~ N(mu_c, sigma_c^2)``: ``-mu_c + sigma_c^2 / 2``."""
    return -np.asarray(mu_c, dtype=float) + 0.5 * np.asarray(sigma_c, dtype=float) ** 2


class LogEI:
    """``x -> log EI(x)`` of a fitted posterior (features in, values and gradients out)."""

    def __init__(self, posterior: Posterior, best: float):
        self.posterior, self.best = posterior, best

    def __call__(self, F: np.ndarray) -> np.ndarray:
        mu, var = self.posterior.predict(F)
        return log_ei(mu, var, self.best)

    def value_and_grad(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return log_ei_with_grad(*self.posterior.predict_with_grad(F), self.best)


class LogEIPerSecond(LogEI):
    """``log EI(x) + log E[1/c(x)]`` with ``cost`` a posterior on (standardized) log cost.

    The cost's predictive variance includes its fitted noise: the cost paid is
    the observed one, noise and all. ``cost_scale`` undoes the standardization
    (``log c = center + cost_scale * z``; the center only shifts the acquisition).
    """

    def __init__(self, posterior: Posterior, best: float, cost: Posterior, cost_scale: float):
        super().__init__(posterior, best)
        self.cost, self.cost_scale = cost, cost_scale

    def _cost_term(self, mu_c, var_c):
        s = self.cost_scale
        return log_expected_inverse_cost(s * mu_c, s * np.sqrt(var_c + self.cost.kernel.noise))

    def __call__(self, F):
        return super().__call__(F) + self._cost_term(*self.cost.predict(F))

    def value_and_grad(self, F):
        value, grad = super().value_and_grad(F)
        mu_c, var_c, dmu_c, dvar_c = self.cost.predict_with_grad(F)
        s = self.cost_scale
        return value + self._cost_term(mu_c, var_c), grad - s * dmu_c + 0.5 * s * s * dvar_c
