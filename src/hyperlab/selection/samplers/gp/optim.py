"""Maximizing an acquisition over a mixed search space.

Finite spaces small enough to list are searched exhaustively (by the sampler,
:func:`argmax_of`). Otherwise, in the spirit of BoTorch's ``optimize_acqf``
and Optuna's ``optim_mixed``:

1. score ``n_candidates`` scrambled-Sobol points plus Gaussian perturbations
   of the best observed points (most of the acquisition's mass sits near them);
2. take the ``n_starts`` best as starts and improve them together, alternating
   L-BFGS-B on the continuous coordinates (the sum of the starts' acquisitions
   is separable, so one SciPy run moves all starts with their exact
   gradients) and a coordinate search over the grid of each discrete
   coordinate (every value when the grid is small, else the nearest ones);
3. return the best point not already taken.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np
from scipy.optimize import minimize

from hyperlab.selection.samplers.gp.search_space import SearchSpace

_CHUNK = 4096
_FULL_GRID = 32  # a discrete coordinate with at most this many values is scanned whole


def evaluate(acq, F: np.ndarray) -> np.ndarray:
    """``acq`` over many points, in chunks that keep the (m, n) kernel block small."""
    if len(F) <= _CHUNK:
        return acq(F)
    return np.concatenate([acq(F[i : i + _CHUNK]) for i in range(0, len(F), _CHUNK)])


def argmax_of(values: np.ndarray, rng: np.random.RandomState) -> int:
    """Index of the maximum; exact ties (up to 1e-12 relative) broken at random."""
    top = np.max(values)
    ties = np.flatnonzero(values >= top - 1e-12 * max(1.0, abs(top)))
    return int(ties[rng.randint(len(ties))]) if len(ties) > 1 else int(ties[0])


def _lbfgs(acq, starts: np.ndarray, cont: np.ndarray, max_iter: int) -> np.ndarray:
    m, c = len(starts), int(cont.sum())
    base = starts.copy()

    def objective(flat):
        F = base.copy()
        F[:, cont] = flat.reshape(m, c)
        value, grad = acq.value_and_grad(F)
        return -float(value.sum()), -grad[:, cont].ravel()

    res = minimize(
        objective,
        starts[:, cont].ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (m * c),
        options={"maxiter": max_iter},
    )
    out = starts.copy()
    out[:, cont] = np.clip(res.x.reshape(m, c), 0.0, 1.0)
    return out


def _coordinate_search(acq, space: SearchSpace, starts: np.ndarray, values: np.ndarray):
    """One pass over the discrete coordinates: move each start to its best grid value."""
    for j in np.flatnonzero(space.is_discrete):
        grid = cast(np.ndarray, space.grids[j])  # a discrete coordinate has a grid
        if len(grid) <= _FULL_GRID or space.is_categorical[j]:
            options = np.broadcast_to(grid, (len(starts), len(grid)))
        else:
            at = np.abs(starts[:, j][:, None] - grid[None, :]).argmin(axis=1)
            idx = np.clip(at[:, None] + np.arange(-2, 3)[None, :], 0, len(grid) - 1)
            options = grid[idx]
        trial = np.repeat(starts, options.shape[1], axis=0)
        trial[:, j] = options.ravel()
        scores = evaluate(acq, trial).reshape(len(starts), options.shape[1])
        pick = scores.argmax(axis=1)
        better = scores[np.arange(len(starts)), pick] > values
        starts[better, j] = options[better, pick[better]]
        values = np.where(better, scores[np.arange(len(starts)), pick], values)
    return starts, values


class Effort(NamedTuple):
    """How hard :func:`maximize` searches: random candidates, local starts, rounds, L-BFGS-B iterations."""

    n_candidates: int = 1024
    n_starts: int = 10
    n_rounds: int = 3
    max_iter: int = 100


DEFAULT_EFFORT = Effort()


def maximize(
    acq,
    space: SearchSpace,
    rng: np.random.RandomState,
    incumbents: np.ndarray,
    taken: set | None = None,
    effort: Effort = DEFAULT_EFFORT,
) -> np.ndarray:
    """The best point found (features), avoiding points in ``taken`` (rounded tuples)."""
    n_candidates, n_starts, n_rounds, max_iter = effort
    cand = space.sample(rng, n_candidates, sobol=True)
    if len(incumbents):
        near = incumbents[rng.randint(len(incumbents), size=n_candidates // 4)]
        near = near + np.where(space.is_discrete, 0.0, 0.05 * rng.randn(*near.shape))
        cand = np.concatenate([cand, incumbents, near])
    cand = space.snap(cand)
    values = evaluate(acq, cand)
    order = np.argsort(-values)
    starts = np.unique(cand[order[: 4 * n_starts]], axis=0)
    starts = starts[np.argsort(-evaluate(acq, starts))[:n_starts]]
    vals = evaluate(acq, starts)
    cont = ~space.is_discrete
    for _ in range(n_rounds):
        before = vals.copy()
        if cont.any():
            moved = _lbfgs(acq, starts, cont, max_iter)
            moved_vals = evaluate(acq, moved)
            keep = moved_vals > vals
            starts[keep], vals[keep] = moved[keep], moved_vals[keep]
        if space.is_discrete.any():
            starts, vals = _coordinate_search(acq, space, starts, vals)
        if not cont.any() and np.array_equal(before, vals):
            break
        if cont.any() and not space.is_discrete.any():
            break  # L-BFGS-B converged; another round would restart from the same points
    points = np.concatenate([starts, cand])
    scores = np.concatenate([vals, values])
    if taken:
        fresh = np.array([k not in taken for k in keys_of(points)], dtype=bool)
        if fresh.any():
            points, scores = points[fresh], scores[fresh]
    return points[argmax_of(scores, rng)]


def key_of(point: np.ndarray) -> tuple:
    """A hashable, rounding-proof identity of a feature vector."""
    return tuple(np.round(np.asarray(point, dtype=float), 9).tolist())


def keys_of(points: np.ndarray) -> list[tuple]:
    """:func:`key_of` of every row of ``points`` (rounded in one call: a finite space has thousands)."""
    return [tuple(row) for row in np.round(np.asarray(points, dtype=float), 9).tolist()]
