"""Optuna distributions <-> GP features: one feature per parameter, in [0, 1] or a category index.

Numeric parameters (float, int, stepped float) map to ``u in [0, 1]``, linearly
or in log space (``log=True``); ints and stepped floats are *discrete*: only
the grid of their values is ever suggested, but the GP sees them on the same
[0, 1] scale, so the length-scale means the same for every numeric parameter.
A categorical parameter is one feature holding its choice index; the kernel
compares it by equality (Hamming distance), as in Optuna's GPSampler, instead
of a one-hot block that would add ``k - 1`` meaningless dimensions.

Every value handed back to Optuna is a plain Python ``float`` / ``int`` /
choice, never a NumPy scalar.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from scipy.stats import qmc


class SearchSpace:
    """The relative search space of one suggestion, sorted by parameter name."""

    def __init__(self, search_space: dict[str, BaseDistribution]):
        self.names = sorted(search_space)
        self.dists = [search_space[n] for n in self.names]
        self.dim = len(self.names)
        self.is_categorical = np.array([isinstance(d, CategoricalDistribution) for d in self.dists], bool)
        self.grids = [self._grid(d) for d in self.dists]  # feature values of a discrete dim, else None
        self.is_discrete = np.array([g is not None for g in self.grids], bool)

    # ---- one parameter
    @staticmethod
    def _bounds(dist) -> tuple[float, float, bool]:
        lo, hi = float(dist.low), float(dist.high)
        return (math.log(lo), math.log(hi), True) if dist.log else (lo, hi, False)

    def _to_unit(self, dist, v: np.ndarray) -> np.ndarray:
        lo, hi, log = self._bounds(dist)
        v = np.log(v) if log else v
        return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)

    def _from_unit(self, dist, u: np.ndarray) -> np.ndarray:
        lo, hi, log = self._bounds(dist)
        v = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        return np.exp(v) if log else v

    def _grid(self, dist) -> np.ndarray | None:
        if isinstance(dist, CategoricalDistribution):
            return np.arange(len(dist.choices), dtype=float)
        if isinstance(dist, IntDistribution):
            values = np.arange(dist.low, dist.high + 1, dist.step, dtype=float)
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            values = dist.low + dist.step * np.arange(n, dtype=float)
        else:
            return None
        return self._to_unit(dist, values)

    # ---- whole points
    def features(self, params_list: list[dict[str, Any]]) -> np.ndarray:
        """(m, dim) features of parameter dicts (as stored in ``FrozenTrial.params``)."""
        internal = np.array(
            [[d.to_internal_repr(p[n]) for n, d in zip(self.names, self.dists)] for p in params_list], dtype=float
        ).reshape(len(params_list), self.dim)
        return self.features_of_internal(internal)

    def features_of_internal(self, internal: np.ndarray) -> np.ndarray:
        """(m, dim) features of Optuna's internal values (a choice index for a categorical)."""
        out = np.array(internal, dtype=float)
        for j, dist in enumerate(self.dists):
            if not self.is_categorical[j]:
                out[:, j] = self._to_unit(dist, out[:, j])
        return out

    def params(self, point: np.ndarray) -> dict[str, Any]:
        """The parameter dict of one feature vector (snapped onto the grids)."""
        out = {}
        dist: Any  # an Int or Float distribution past the categorical branch
        for j, (name, dist) in enumerate(zip(self.names, self.dists)):
            if self.is_categorical[j]:
                out[name] = dist.to_external_repr(int(round(point[j])))
                continue
            v = float(self._from_unit(dist, np.array(point[j])))
            if isinstance(dist, IntDistribution):
                v = int(min(max(dist.low + round((v - dist.low) / dist.step) * dist.step, dist.low), dist.high))
            elif dist.step is not None:
                k = round((v - dist.low) / dist.step)
                v = float(min(max(dist.low + k * dist.step, dist.low), dist.high))
            else:
                v = float(min(max(v, dist.low), dist.high))
            out[name] = v
        return out

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Move every discrete coordinate to its nearest grid value; clip the rest to [0, 1]."""
        out = np.clip(np.array(points, dtype=float), 0.0, 1.0)
        for j, grid in enumerate(self.grids):
            if grid is not None:
                col = points[:, j]
                out[:, j] = grid[np.abs(col[:, None] - grid[None, :]).argmin(axis=1)]
        return out

    def size(self) -> float:
        """Number of points, ``inf`` when a dimension is continuous."""
        # cast: every grid is there when every dimension is discrete
        return math.prod(len(cast(np.ndarray, g)) for g in self.grids) if self.is_discrete.all() else math.inf

    def enumerate(self) -> np.ndarray:
        """Every point of a finite space, shape (size, dim)."""
        mesh = np.meshgrid(*cast(list[np.ndarray], self.grids), indexing="ij")  # finite: every grid is there
        return np.stack([m.ravel() for m in mesh], axis=1) if self.dim else np.zeros((1, 0))

    def sample(self, rng: np.random.RandomState, m: int, sobol: bool = False) -> np.ndarray:
        """``m`` points: uniform per parameter (every grid value equally likely), or scrambled Sobol."""
        if sobol and self.dim:
            u = qmc.Sobol(self.dim, scramble=True, seed=rng.randint(2**31)).random(m)
        else:
            u = rng.uniform(size=(m, self.dim))
        out = np.empty_like(u)
        for j, grid in enumerate(self.grids):
            out[:, j] = u[:, j] if grid is None else grid[np.minimum((u[:, j] * len(grid)).astype(int), len(grid) - 1)]
        return out

    def covers(self, trial) -> bool:
        """Whether a trial has every parameter of this space, with the same distribution."""
        return all(trial.distributions.get(n) == d for n, d in zip(self.names, self.dists))

    def key(self) -> tuple:
        """Hashable identity of the space (for caching kernel hyperparameters between suggestions)."""
        return tuple((n, repr(d)) for n, d in zip(self.names, self.dists))
