"""Gaussian-process samplers for Optuna: expected improvement and EI per second.

Both are ordinary :class:`optuna.samplers.BaseSampler` subclasses built on
scikit-learn's :class:`~sklearn.gaussian_process.GaussianProcessRegressor`
(never Optuna's own ``GPSampler``, which imports PyTorch), so they drop into any
study::

    sampler = GPEISampler(n_startup_trials=10, seed=0)
    study = optuna.create_study(sampler=sampler)

Model (Snoek, Larochelle & Adams 2012, arXiv 1206.2944, §2-3): every parameter
is mapped to [0, 1] (log-scaled ones in log space, categoricals one-hot); the
surrogate is ``C * Matern52(ARD) + White`` on normalized targets. For
minimization the acquisition is expected improvement (their eq. 2)

    EI(x) = (f* - mu(x)) Phi(z) + sigma(x) phi(z),   z = (f* - mu(x)) / sigma(x),

with f* the best observed value. :class:`GPEIPerSecondSampler` fits a second,
independent GP to ``log c(x)``, the cost the objective stores in a trial user
attribute, and maximizes EI times the expected inverse cost (§3.2; with
``log c ~ N(mu_c, sigma_c^2)``, ``E[1/c] = exp(-mu_c + sigma_c^2 / 2)``).

Over a finite space (ints, stepped floats, categoricals; at most
``max_enumerate`` points) the acquisition is maximized over every point not yet
evaluated or running, so a point is never suggested twice; otherwise over
``n_candidates`` random points refined by a few rounds of local perturbation.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Sequence

import numpy as np
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.special import ndtr
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

log = logging.getLogger(__name__)

_SQRT_2PI = math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------- acquisitions


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """EI for minimization (Snoek et al. 2012, eq. 2); ``sigma == 0`` gives ``max(best - mu, 0)``."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    gain = best - mu
    safe = np.where(sigma > 0, sigma, 1.0)
    z = gain / safe
    ei = gain * ndtr(z) + safe * np.exp(-0.5 * z * z) / _SQRT_2PI
    return np.where(sigma > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


def log_expected_inverse_cost(mu_c: np.ndarray, sigma_c: np.ndarray) -> np.ndarray:
    """``log E[1/c]`` for ``log c ~ N(mu_c, sigma_c^2)``: ``-mu_c + sigma_c^2 / 2``."""
    return -np.asarray(mu_c, dtype=float) + 0.5 * np.asarray(sigma_c, dtype=float) ** 2


def ei_per_second(ei: np.ndarray, mu_c: np.ndarray, sigma_c: np.ndarray) -> np.ndarray:
    """EI per second (Snoek et al. 2012, §3.2): ``EI(x) * exp(-mu_c(x) + sigma_c(x)^2 / 2)``."""
    return np.asarray(ei, dtype=float) * np.exp(log_expected_inverse_cost(mu_c, sigma_c))


# --------------------------------------------------------------------------- encoding


class SpaceEncoder:
    """Maps Optuna's internal representation (one float per parameter) to GP features in [0, 1].

    Numeric parameters give one feature (log-transformed when ``log=True``),
    categoricals one one-hot block, so the GP kernel sees distances that mean
    something for every kind of parameter.
    """

    def __init__(self, search_space: dict[str, BaseDistribution]):
        self.names = sorted(search_space)
        self.dists = [search_space[n] for n in self.names]
        self.n_features = sum(len(d.choices) if isinstance(d, CategoricalDistribution) else 1
                              for d in self.dists)

    # ---- internal <-> features
    def features(self, internal: np.ndarray) -> np.ndarray:
        """(m, n_params) internal values -> (m, n_features) in [0, 1]."""
        internal = np.atleast_2d(np.asarray(internal, dtype=float))
        cols = []
        for j, dist in enumerate(self.dists):
            v = internal[:, j]
            if isinstance(dist, CategoricalDistribution):
                cols.append(np.eye(len(dist.choices))[v.astype(int)])
                continue
            lo, hi = float(dist.low), float(dist.high)
            if dist.log:
                v, lo, hi = np.log(v), math.log(lo), math.log(hi)
            cols.append(((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v))[:, None])
        return np.concatenate(cols, axis=1) if cols else np.zeros((len(internal), 0))

    def internal_of(self, params: dict[str, Any]) -> np.ndarray:
        return np.array([d.to_internal_repr(params[n]) for n, d in zip(self.names, self.dists)], float)

    def external_of(self, row: np.ndarray) -> dict[str, Any]:
        out = {}
        for n, d, v in zip(self.names, self.dists, row):
            if isinstance(d, IntDistribution):
                v = int(round(v))
            out[n] = d.to_external_repr(v)
        return out

    # ---- finite grids and random points
    def grid(self, dist: BaseDistribution) -> np.ndarray | None:
        if isinstance(dist, CategoricalDistribution):
            return np.arange(len(dist.choices), dtype=float)
        if isinstance(dist, IntDistribution):
            return np.arange(dist.low, dist.high + 1, dist.step, dtype=float)
        if isinstance(dist, FloatDistribution) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            return dist.low + dist.step * np.arange(n, dtype=float)
        return None

    def enumerate(self, max_points: int) -> np.ndarray | None:
        """Every point of the space as internal values, or None if infinite or too many."""
        grids = [self.grid(d) for d in self.dists]
        if any(g is None for g in grids) or math.prod(len(g) for g in grids) > max_points:
            return None
        mesh = np.meshgrid(*grids, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def snap(self, internal: np.ndarray) -> np.ndarray:
        """Round int / stepped / categorical columns onto their grid, clip to bounds."""
        out = np.array(internal, dtype=float)
        for j, dist in enumerate(self.dists):
            if isinstance(dist, CategoricalDistribution):
                out[:, j] = np.clip(np.round(out[:, j]), 0, len(dist.choices) - 1)
                continue
            col = np.clip(out[:, j], dist.low, dist.high)
            step = getattr(dist, "step", None)
            if step is not None:
                col = dist.low + np.round((col - dist.low) / step) * step
                col = np.clip(col, dist.low, dist.high)
            out[:, j] = col
        return out

    def random(self, rng: np.random.RandomState, m: int) -> np.ndarray:
        cols = []
        for dist in self.dists:
            if isinstance(dist, CategoricalDistribution):
                cols.append(rng.randint(len(dist.choices), size=m).astype(float))
                continue
            lo, hi = float(dist.low), float(dist.high)
            if isinstance(dist, IntDistribution):
                lo, hi = lo - 0.5, hi + 0.5  # equal mass for every integer after rounding
            if dist.log:  # low >= 1 for a log int, so low - 0.5 > 0
                cols.append(np.exp(rng.uniform(math.log(lo), math.log(hi), size=m)))
            else:
                cols.append(rng.uniform(lo, hi, size=m))
        return self.snap(np.stack(cols, axis=1)) if cols else np.zeros((m, 0))

    def perturb(self, rng: np.random.RandomState, internal: np.ndarray, scale: float) -> np.ndarray:
        """Local moves for the continuous refinement: Gaussian steps in feature space."""
        out = np.array(internal, dtype=float)
        for j, dist in enumerate(self.dists):
            if isinstance(dist, CategoricalDistribution):
                flip = rng.rand(len(out)) < scale
                out[flip, j] = rng.randint(len(dist.choices), size=int(flip.sum()))
                continue
            lo, hi = float(dist.low), float(dist.high)
            if dist.log:
                u = (np.log(out[:, j]) - math.log(lo)) / (math.log(hi) - math.log(lo) or 1.0)
                u = np.clip(u + scale * rng.randn(len(out)), 0, 1)
                out[:, j] = np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
            else:
                out[:, j] = out[:, j] + scale * (hi - lo) * rng.randn(len(out))
        return self.snap(out)


# --------------------------------------------------------------------------- GP fit

_CONTROLLER = None


def single_threaded_blas():
    """Context manager: BLAS on one thread.

    The matrices here are at most a few hundred wide; a multi-threaded BLAS
    spends more on waking threads than on the work and, on a loaded machine,
    makes each GP fit ~8x slower (measured: 13 s vs 1.6 s for three studies).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()  # enumerating the libraries once costs ~1.5 ms
    return _CONTROLLER.limit(limits=1, user_api="blas")



def default_kernel(n_features: int) -> Kernel:
    """``C * Matern52(ARD) + White`` on features in [0, 1] and normalized targets."""
    return (ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=np.full(max(n_features, 1), 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5)
            + WhiteKernel(1e-2, (1e-6, 1.0)))


def _lbfgs(max_iter: int):
    """A scikit-learn ``optimizer`` callable: L-BFGS-B on the log marginal likelihood, capped."""
    from scipy.optimize import minimize

    def optimizer(obj_func, initial_theta, bounds):
        res = minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds,
                       options={"maxiter": max_iter})
        return res.x, res.fun

    return optimizer


class GPModel:
    """A GP surrogate that warm-starts its kernel hyperparameters from the previous fit.

    Re-optimizing the marginal likelihood from scratch costs ~1 s at 200
    points on a 2-core CPU; starting from the last optimum (at most
    ``max_iter`` L-BFGS steps), and re-optimizing only when the data grew by
    ``refit_growth`` since the last optimization, keeps a suggestion well under
    100 ms while the hyperparameters still track the data. In between, the GP
    is conditioned on the new points with the kernel it has.
    """

    def __init__(self, refit_growth: float = 1.1, max_iter: int = 50):
        self.refit_growth = refit_growth
        self.max_iter = max_iter
        self._kernel: Kernel | None = None
        self._n_at_fit = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcessRegressor:
        n, d = X.shape
        kernel = self._kernel
        if kernel is None or kernel.k1.k2.length_scale.shape != (max(d, 1),):
            kernel, self._n_at_fit = default_kernel(d), 0
        optimize = self._n_at_fit == 0 or n >= max(self._n_at_fit + 1, self.refit_growth * self._n_at_fit)
        gp = GaussianProcessRegressor(kernel, normalize_y=True,
                                      optimizer=_lbfgs(self.max_iter) if optimize else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            gp.fit(X if d else np.zeros((n, 1)), y)
        if optimize:
            self._kernel, self._n_at_fit = gp.kernel_, n
        return gp

    @staticmethod
    def predict(gp: GaussianProcessRegressor, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mu, sd = gp.predict(X if X.shape[1] else np.zeros((len(X), 1)), return_std=True)
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))):
            raise FloatingPointError("non-finite GP prediction")
        return mu, sd


# --------------------------------------------------------------------------- samplers


class GPEISampler(BaseSampler):
    """Bayesian optimization with a scikit-learn GP and expected improvement.

    Args:
        n_startup_trials: completed trials sampled uniformly at random (among
            not-yet-evaluated points of a finite space) before the GP is used.
        n_candidates: random candidates per suggestion in an infinite space.
        max_enumerate: a finite space with at most this many points is searched exhaustively.
        seed: seeds every random choice (startup, candidates, ties).
        cost_attr: name of the trial user attribute holding the cost; used only
            by :class:`GPEIPerSecondSampler`.

    Parameters present in only some trials (conditional spaces) are sampled
    independently at random, like Optuna's multivariate TPE; use a fixed-length
    encoding to keep every parameter in the model. Failed and pruned trials
    are not fitted but are never suggested again in a finite space; running
    trials are avoided too, so parallel workers do not duplicate work.
    """

    def __init__(self, *, n_startup_trials: int = 10, n_candidates: int = 1000,
                 max_enumerate: int = 20000, seed: int | None = None, cost_attr: str = "cost"):
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {n_startup_trials}")
        self._n_startup_trials = n_startup_trials
        self._n_candidates = n_candidates
        self._max_enumerate = max_enumerate
        self._cost_attr = cost_attr
        self._rng = np.random.RandomState(seed)
        self._random_sampler = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._gp = GPModel()
        self._cost_gp = GPModel()

    def reseed_rng(self) -> None:
        self._rng = np.random.RandomState()
        self._random_sampler.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._random_sampler.sample_independent(study, trial, param_name, param_distribution)

    # ---- the model-based suggestion
    def sample_relative(self, study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        with single_threaded_blas():
            return self._sample_relative(study, trial, search_space)

    def _sample_relative(self, study, trial, search_space):
        if study._is_multi_objective():
            raise ValueError(f"{type(self).__name__} supports single-objective studies only")
        enc = SpaceEncoder(search_space)
        seen = [t for t in study.get_trials(deepcopy=False)
                if t.number != trial.number and search_space.keys() <= t.params.keys()]
        done = [t for t in seen if t.state == TrialState.COMPLETE and t.value is not None
                and math.isfinite(t.value)]

        pool = enc.enumerate(self._max_enumerate)
        if pool is not None:
            taken = {tuple(np.round(enc.internal_of(t.params), 9)) for t in seen}
            fresh = np.array([tuple(p) not in taken for p in np.round(pool, 9)], dtype=bool)
            if fresh.any():  # once all points are taken, repeats are unavoidable
                pool = pool[fresh]
        if len(done) < self._n_startup_trials:
            point = pool[self._rng.randint(len(pool))] if pool is not None else enc.random(self._rng, 1)[0]
            return enc.external_of(point)

        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        X = enc.features(np.stack([enc.internal_of(t.params) for t in done]))
        y = sign * np.array([t.value for t in done], dtype=float)
        try:
            score = self._acquisition(enc, done, X, y)
            if pool is None:
                point = self._maximize_continuous(enc, score)
            else:
                point = pool[self._argmax(score(enc.features(pool)))]
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as err:
            # A degenerate fit (e.g. every value identical and a singular kernel) must not stop the study.
            log.debug("GP fit failed (%s); sampling at random", err)
            point = pool[self._rng.randint(len(pool))] if pool is not None else enc.random(self._rng, 1)[0]
        return enc.external_of(point)

    def _acquisition(self, enc: SpaceEncoder, done: Sequence[FrozenTrial], X: np.ndarray, y: np.ndarray):
        gp = self._gp.fit(X, y)
        best = float(np.min(y))

        def ei(F: np.ndarray) -> np.ndarray:
            mu, sd = GPModel.predict(gp, F)
            return expected_improvement(mu, sd, best)

        return ei

    def _argmax(self, values: np.ndarray) -> int:
        """Index of the maximum; exact ties (e.g. EI underflowing to 0) broken at random."""
        top = np.flatnonzero(values >= np.max(values) - 1e-15 * max(1.0, abs(np.max(values))))
        return int(top[self._rng.randint(len(top))]) if len(top) > 1 else int(top[0])

    def _maximize_continuous(self, enc: SpaceEncoder, score) -> np.ndarray:
        cand = enc.random(self._rng, self._n_candidates)
        vals = score(enc.features(cand))
        for scale in (0.1, 0.03, 0.01):  # local refinement around the current best few
            top = cand[np.argsort(-vals)[:5]]
            local = enc.perturb(self._rng, np.repeat(top, 20, axis=0), scale)
            cand = np.concatenate([cand, local])
            vals = np.concatenate([vals, score(enc.features(local))])
        return cand[self._argmax(vals)]


class GPEIPerSecondSampler(GPEISampler):
    """EI per second (Snoek et al. 2012, §3.2): ``EI(x) * exp(-mu_c(x) + sigma_c(x)^2 / 2)``.

    ``mu_c, sigma_c`` come from an independent GP on ``log c``, where ``c`` is
    the positive number the objective stores with
    ``trial.set_user_attr(cost_attr, c)``. Trials without a positive cost are
    left out of the cost model; with no cost at all it is plain EI.
    """

    def _acquisition(self, enc, done, X, y):
        ei = super()._acquisition(enc, done, X, y)
        costs = np.array([float(t.user_attrs.get(self._cost_attr, np.nan)) for t in done])
        ok = np.isfinite(costs) & (costs > 0)
        if not ok.any():
            return ei
        cost_gp = self._cost_gp.fit(X[ok], np.log(costs[ok]))

        def ei_ps(F: np.ndarray) -> np.ndarray:
            mu_c, sd_c = GPModel.predict(cost_gp, F)
            return ei_per_second(ei(F), mu_c, sd_c)

        return ei_ps


__all__ = ["GPEISampler", "GPEIPerSecondSampler", "SpaceEncoder", "GPModel", "expected_improvement",
           "ei_per_second", "log_expected_inverse_cost", "default_kernel"]
