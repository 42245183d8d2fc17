"""Gaussian-process regression with a Matern-5/2 ARD kernel and MAP hyperparameters.

Kernel on features ``x`` (see :mod:`.search_space`; categorical features are
compared by equality)::

    r2(x, x') = sum_k lam_k d_k(x, x')^2,     d_k = x_k - x'_k  (numeric),  [x_k != x'_k]  (categorical)
    k(x, x')  = s (1 + sqrt(5 r2) + 5 r2 / 3) exp(-sqrt(5 r2))                 (Rasmussen & Williams, eq. 4.17)
    y = f(x) + eps,  eps ~ N(0, noise)

with ``lam_k = 1 / lengthscale_k^2``. The targets are standardized before the
fit. The hyperparameters ``theta = (log lam, log s, log noise)`` maximize the
log marginal likelihood (R&W eq. 5.8, gradient eq. 5.9) plus a log prior
(maximum a posteriori), the remedy for length-scales pinned at their bounds:

    lengthscale_k ~ Gamma(3, 6)   (mode 1/3 of the unit cube; BoTorch's classic Matern prior)
    s             ~ Gamma(2, 1)   (signal variance near the standardized targets' 1)
    noise         ~ Gamma(1.1, 30) (mostly small noise, as in Optuna's GPSampler), noise >= 1e-6

The fit is L-BFGS-B (SciPy) on the exact gradient, from every given start
(the previous optimum, a default); the best posterior wins.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dpotrf, dpotrs
from scipy.optimize import minimize

MIN_NOISE = 1e-6
_SQRT5 = math.sqrt(5.0)
# bounds of theta = (log lam_1..d, log s, log noise)
_LOG_LAM = (math.log(1e-4), math.log(1e4))
_LOG_SCALE = (math.log(1e-2), math.log(1e2))
_LOG_NOISE = (math.log(MIN_NOISE), math.log(10.0))


class KernelHypers(NamedTuple):
    inv_sq_lengthscales: np.ndarray  # (d,)
    scale: float
    noise: float

    @property
    def theta(self) -> np.ndarray:
        return np.concatenate([np.log(self.inv_sq_lengthscales), [math.log(self.scale), math.log(self.noise)]])

    @staticmethod
    def of(theta: np.ndarray) -> KernelHypers:
        return KernelHypers(np.exp(theta[:-2]), float(math.exp(theta[-2])), float(math.exp(theta[-1])))

    @staticmethod
    def default(dim: int) -> KernelHypers:
        return KernelHypers(np.full(dim, 4.0), 1.0, 1e-2)  # lengthscale 0.5


# --------------------------------------------------------------------------- kernel


def matern52(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-scale Matern-5/2 of the squared scaled distance, and its derivative d k / d r2."""
    r = _SQRT5 * np.sqrt(np.maximum(r2, 0.0))
    e = np.exp(-r)
    return (1.0 + r + r * r / 3.0) * e, -(5.0 / 6.0) * (1.0 + r) * e


def sq_diffs(A: np.ndarray, B: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """(m, n, d) per-dimension squared differences (0/1 mismatch for categorical dims)."""
    diff = A[:, None, :] - B[None, :, :]
    return np.where(is_cat, (diff != 0).astype(float), diff * diff)


def scaled_r2(A: np.ndarray, B: np.ndarray, lam: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """(m, n) ``sum_k lam_k d_k^2`` without the (m, n, d) intermediate for numeric dims."""
    num = ~is_cat
    a, b = A[:, num] * np.sqrt(lam[num]), B[:, num] * np.sqrt(lam[num])
    r2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    for k in np.flatnonzero(is_cat):
        r2 += lam[k] * (A[:, k][:, None] != B[:, k][None, :])
    return np.maximum(r2, 0.0)


# --------------------------------------------------------------------------- prior and marginal likelihood


def log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Log density (up to a constant) of the priors above, and its gradient in theta."""
    log_lam, log_s, log_noise = theta[:-2], theta[-2], theta[-1]
    ell = np.exp(-0.5 * log_lam)  # Gamma(3, 6) on the lengthscale: 2 log ell - 6 ell
    s, noise = math.exp(log_s), math.exp(log_noise)
    value = float(np.sum(2.0 * np.log(ell) - 6.0 * ell) + (log_s - s) + (0.1 * log_noise - 30.0 * noise))
    grad = np.concatenate([-1.0 + 3.0 * ell, [1.0 - s, 0.1 - 30.0 * noise]])
    return value, grad


def neg_log_posterior(theta: np.ndarray, D: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``-(log p(y | theta) + log prior(theta))`` and its gradient; ``D``: (n, n, d) from :func:`sq_diffs`."""
    p = KernelHypers.of(theta)
    n = len(y)
    r2 = D @ p.inv_sq_lengthscales
    k, dk = matern52(r2)
    K = p.scale * k + (p.noise + 1e-9) * np.eye(n)
    # LAPACK itself, as scipy.linalg.cholesky / cho_solve call it (bit for bit the same factor and solves):
    # the L-BFGS fit calls this thousands of times on small n, where their checks and wrappers cost more than
    # the factorization. K is finite here: theta is inside its bounds and D and y are finite.
    L, not_pd = dpotrf(K, lower=1)
    if not_pd:
        return 1e25, np.zeros_like(theta)
    alpha = dpotrs(L, y, lower=1)[0]
    lml = -0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * math.log(2 * math.pi)
    W = np.outer(alpha, alpha) - dpotrs(L, np.eye(n), lower=1)[0]
    g_lam = 0.5 * p.inv_sq_lengthscales * np.einsum("ij,ijk->k", W * (p.scale * dk), D)
    g_s = 0.5 * np.sum(W * (p.scale * k))
    g_noise = 0.5 * p.noise * np.trace(W)
    lp, g_lp = log_prior(theta)
    grad = np.concatenate([g_lam, [g_s, g_noise]]) + g_lp
    return -(lml + lp), -grad


def fit_kernel(
    X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, starts: list[KernelHypers], max_iter: int = 200
) -> KernelHypers:
    """MAP kernel hyperparameters for standardized targets ``y``, best over ``starts``."""
    D = sq_diffs(X, X, is_cat)
    d = X.shape[1]
    bounds = [_LOG_LAM] * d + [_LOG_SCALE, _LOG_NOISE]
    best, best_f = None, math.inf
    for start in starts:
        theta0 = np.clip(start.theta, [b[0] for b in bounds], [b[1] for b in bounds])
        res = minimize(
            neg_log_posterior,
            theta0,
            args=(D, y),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter},
        )
        if np.isfinite(res.fun) and res.fun < best_f:
            best, best_f = res.x, float(res.fun)
    if best is None or best_f >= 1e25:
        raise np.linalg.LinAlgError("no start gave a positive-definite kernel matrix")
    return KernelHypers.of(best)


# --------------------------------------------------------------------------- posterior


class Posterior:
    """The GP conditioned on ``(X, y)`` with fixed kernel parameters; predicts the latent f."""

    def __init__(self, X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, kernel: KernelHypers):
        self.X, self.y, self.is_cat, self.kernel = X, y, is_cat, kernel
        k, _ = matern52(scaled_r2(X, X, kernel.inv_sq_lengthscales, is_cat))
        K = kernel.scale * k + (kernel.noise + 1e-9) * np.eye(len(X))
        chol = scipy.linalg.cho_factor(K, lower=True)
        self.alpha = scipy.linalg.cho_solve(chol, y)
        # K^-1 once: every prediction is then a matrix product (n <= a few hundred, so n^2 memory is small)
        self.K_inv = scipy.linalg.cho_solve(chol, np.eye(len(X)))

    def predict(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance (noise excluded) at (m, d) features."""
        p = self.kernel
        kx = p.scale * matern52(scaled_r2(F, self.X, p.inv_sq_lengthscales, self.is_cat))[0]
        var = np.maximum(p.scale - ((kx @ self.K_inv) * kx).sum(1), 1e-12 * p.scale)
        return kx @ self.alpha, var

    def predict_with_grad(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients (m, d) in the features (zero on categorical dims)."""
        p = self.kernel
        lam = np.where(self.is_cat, 0.0, p.inv_sq_lengthscales)
        diff = F[:, None, :] - self.X[None, :, :]
        k, dk = matern52(scaled_r2(F, self.X, p.inv_sq_lengthscales, self.is_cat))
        kx, dkx = p.scale * k, p.scale * dk  # (m, n); d kx / d x_k = dkx * 2 lam_k diff_k
        w = kx @ self.K_inv  # (K^-1 kx)^T, (m, n)
        mu = kx @ self.alpha
        var = np.maximum(p.scale - (kx * w).sum(1), 1e-12 * p.scale)
        dmu = 2.0 * lam * np.einsum("mn,mnd->md", dkx * self.alpha, diff)
        dvar = -4.0 * lam * np.einsum("mn,mnd->md", dkx * w, diff)
        return mu, var, dmu, dvar


def standardize(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(values - center) / spread`` robust to huge magnitudes; returns (z, center, spread)."""
    values = np.asarray(values, dtype=float)
    center = float(np.median(values))
    dev = values - center
    top = float(np.max(np.abs(dev))) if len(dev) else 0.0
    if not np.isfinite(top):
        raise FloatingPointError("objective values too large to standardize")
    if top == 0.0:
        return np.zeros_like(values), center, 1.0
    unit = dev / top  # in [-1, 1]: no overflow below
    mean, std = float(unit.mean()), float(unit.std())
    std = std if std > 0 else 1.0
    return (unit - mean) / std, center + mean * top, std * top


class WarmFits:
    """Kernel hyperparameters remembered between suggestions, one entry per key (study, space, target).

    A full MAP fit from two starts (the remembered optimum and the default)
    runs while there are fewer than ``always_below`` points and whenever the
    data grew by ``growth`` since the last fit; in between, the GP is only
    conditioned on the new points. Safe to share between threads.
    """

    def __init__(self, growth: float = 1.05, always_below: int = 64):
        self.growth, self.always_below = growth, always_below
        self._fits: dict[tuple, tuple[KernelHypers, int]] = {}
        self._lock = threading.Lock()

    def posterior(self, key: tuple, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray) -> Posterior:
        n = len(z)
        with self._lock:
            cached = self._fits.get(key)
        if cached is None or n < self.always_below or n >= max(cached[1] + 1, self.growth * cached[1]):
            starts = [KernelHypers.default(X.shape[1])] + ([cached[0]] if cached else [])
            cached = (fit_kernel(X, z, is_cat, starts), n)
            with self._lock:
                self._fits[key] = cached
        return Posterior(X, z, is_cat, cached[0])
