"""Pareto fronts of (validation error, latency) and how well a search covered the true one.

- :func:`pareto_mask`: the non-dominated points (both objectives minimized); the
  one definition the table's true front, the search metrics and the candidate
  stage's plot data all use.
- :func:`hypervolume_2d`: the area a point set dominates up to a reference point.
  Both objectives are normalized to [0, 1] over the table (:func:`unit_scale`),
  on log axes by default (latency spans orders of magnitude; the interesting
  errors are a thin sliver near the best on a linear scale), and the reference is
  :data:`REFERENCE` = (1.1, 1.1), so every network counts. Log scaling changes
  the weights of the area, never which points are Pareto-optimal.
- :func:`igd_plus`: IGD+ (Ishibuchi et al. 2015), the found set's distance to the
  true front; :func:`front_quality`: the four front metrics of one search.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

REFERENCE = np.array([1.1, 1.1])


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """True for the rows of ``points`` no other row dominates (minimization; duplicates all kept).

    Row ``j`` is dominated when some row ``i`` is <= in every column and < in one.
    """
    pts = np.asarray(points, dtype=float)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    le = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)
    lt = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return ~dominated


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (both objectives minimized).

    Points that do not strictly dominate the reference contribute nothing.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    pts = pts[np.all(pts < reference, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]  # by first objective, then second
    area, y_prev = 0.0, float(reference[1])
    for x, y in pts:
        if y < y_prev:
            area += (reference[0] - x) * (y_prev - y)
            y_prev = y
    return float(area)


def unit_scale(values: np.ndarray, log: bool) -> np.ndarray:
    """Map ``values`` to [0, 1] over their own range, after a log when ``log``."""
    v = np.log(np.maximum(np.asarray(values, dtype=float), 1e-12)) if log else np.asarray(values, dtype=float)
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def normalized_points(nets: pd.DataFrame, log: bool) -> pd.DataFrame:
    """(error, latency) of every network on [0, 1], log or linear axes."""
    return pd.DataFrame(
        {"e": unit_scale(nets["val_error"].to_numpy(), log), "l": unit_scale(nets["latency_ms"].to_numpy(), log)},
        index=nets.index,
    )


def igd_plus(found: np.ndarray, front: np.ndarray) -> float:
    """IGD+ (Ishibuchi et al. 2015): mean over the true front's points z of the distance
    ``min_a sqrt(sum_i max(a_i - z_i, 0)^2)`` to the found set (minimization; 0 = whole front found)."""
    found, front = np.asarray(found, float).reshape(-1, 2), np.asarray(front, float).reshape(-1, 2)
    if len(found) == 0:
        return np.inf
    d = np.sqrt((np.maximum(found[None, :, :] - front[:, None, :], 0.0) ** 2).sum(axis=2))
    return float(d.min(axis=1).mean())


def true_front(nets: pd.DataFrame) -> np.ndarray:
    """Mask of the networks on the table's (seed-mean validation error, latency) Pareto front."""
    return pareto_mask(nets[["val_error", "latency_ms"]].to_numpy())


def front_quality(archs: Iterable, nets: pd.DataFrame, norms: dict[str, pd.DataFrame]) -> dict:
    """Quality of the evaluated networks ``archs`` as an (error, latency) front, four ways.

    ``hv_ratio_log`` / ``hv_ratio_linear``: hypervolume over the true front's, on
    log / linear normalized axes (reference 1.1, 1.1); ``front_share``: share of
    the true front's networks evaluated; ``igd_plus``: IGD+ on log normalized axes.
    """
    archs = sorted(set(archs) & set(nets.index))
    true = true_front(nets)
    front_archs = set(nets.index[true])
    out = {}
    for name, norm in norms.items():
        pts = norm.loc[archs].to_numpy() if archs else np.zeros((0, 2))
        out[f"hv_ratio_{name}"] = hypervolume_2d(pts, REFERENCE) / hypervolume_2d(norm.to_numpy()[true], REFERENCE)
    out["front_share"] = len(front_archs & set(archs)) / len(front_archs)
    log_norm = norms["log"]
    out["igd_plus"] = igd_plus(log_norm.loc[archs].to_numpy() if archs else np.zeros((0, 2)), log_norm.to_numpy()[true])
    return out
