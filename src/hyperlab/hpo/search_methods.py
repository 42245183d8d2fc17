"""The search methods, once, for every hyperparameter family (both HPO stages run these).

Each round is one evaluation of f(h) (``evaluate``: h -> f(h), the jitted objective on the seed's
data and weights) = CE_val(w_T(h)) (T forward steps) at a point of the box;
h0 is every method's first point, so every record starts at the same place.

* ``gp_ei`` (this project's GP-EI sampler) and ``tpe`` (Optuna's, multivariate): Optuna studies
  over the box, ``n_startup_trials`` random trials after h0 before the model is used;
* ``random``: uniform in the box;
* ``cmaes``: the ``cmaes`` package Optuna's ``CmaEsSampler`` runs (full covariance up to
  ``cma_full_max_dim``, the separable variant above, Ros & Hansen 2008), asked and told directly;
* ``hesbo``: GP-EI in a hashing embedding (Nayebi, Munteanu & Poloczek 2019, HeSBO): an Optuna
  study of this project's GP-EI over z in [-1, 1]^k, evaluated at h whose every coordinate is
  ± one coordinate of z (:func:`embed`), so Bayesian optimization runs at every dimension of h.

The sampler's own time (the GP fit, the acquisition search) is spent inside the wall-clock
budget: it is part of what the search costs. A non-finite f is told to the sampler as the
largest float32 (it must rank last) and kept as it is in the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import cmaes
import numpy as np
import optuna

from hyperlab.hpo.budget import Round
from hyperlab.hpo.cost import evaluation
from hyperlab.hpo.families import Family
from hyperlab.selection.samplers.gp import GPEISampler

#: the searches run through an Optuna study (its in-memory storage costs O(d^2) per trial)
OPTUNA = ("gp_ei", "tpe")


def _finite(value: float) -> float:
    return value if np.isfinite(value) else float(np.finfo(np.float32).max)


def optuna_rounds(family: Family, name: str, seed: int, n_startup: int, T: int, evaluate: Callable) -> Iterator[Round]:
    """An Optuna study (``gp_ei`` or ``tpe``) asking points of the box; h0 is its first trial."""
    sampler: optuna.samplers.BaseSampler
    if name == "gp_ei":
        sampler = GPEISampler(n_startup_trials=n_startup, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(n_startup_trials=n_startup, seed=seed, multivariate=True)
    names = [f"h{i:05d}" for i in range(family.dim)]
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(dict(zip(names, map(float, family.h0))))
    dists: dict[str, Any] = {
        n: optuna.distributions.FloatDistribution(float(lo), float(hi))
        for n, lo, hi in zip(names, family.low, family.high)
    }
    return _study_rounds(study, dists, lambda x: x.astype(np.float32), T, evaluate)


def _study_rounds(study: optuna.Study, dists: dict, to_h: Callable, T: int, evaluate: Callable) -> Iterator[Round]:
    """Ask ``study`` a point of ``dists`` (in their order), evaluate f at ``to_h`` of it, tell; one round each."""
    names = list(dists)
    while True:
        trial = study.ask(dists)
        chosen = trial.params  # one copy of the dict (the property copies it)
        h = to_h(np.array([chosen[n] for n in names]))
        value = float(evaluate(h))
        study.tell(trial, _finite(value))
        yield Round(evaluation(T), h, value)


class Embedding(NamedTuple):
    """HeSBO's count-sketch map: coordinate i of h follows ``sign[i] * z[bucket[i]]``."""

    bucket: np.ndarray  # (d,) int: the coordinate of z each coordinate of h follows
    sign: np.ndarray  # (d,) +-1


def embedding(family: Family, k: int, seed: int) -> Embedding:
    """A random hashing embedding of the box into k dimensions, seeded by ``seed`` (Nayebi et al. 2019, §3)."""
    rng = np.random.default_rng(seed)
    return Embedding(rng.integers(0, k, family.dim), rng.choice(np.array([-1.0, 1.0]), family.dim))


def embed(family: Family, emb: Embedding, z: np.ndarray) -> np.ndarray:
    """h for the low-dimensional point z in [-1, 1]^k: in the box scaled to [-1, 1]^d, h0 + sign * z[bucket],
    clipped to the box.

    HeSBO maps [-1, 1]^k onto the scaled box itself (x = sign * z[bucket]), so no point falls outside it --
    unlike REMBO's Gaussian map, which at d = 12,705 sends nearly every point to a corner. Here the map is
    centred at h0, so that z = 0 is h0 (the first trial of every method); a coordinate of h0 off the box's
    centre can then leave it by at most its offset, and is clipped.
    """
    centre, half = (family.high + family.low) / 2, (family.high - family.low) / 2
    x = np.clip((family.h0 - centre) / half + emb.sign * z[emb.bucket], -1.0, 1.0)
    return (centre + half * x).astype(np.float32)


def hesbo_rounds(family: Family, seed: int, n_startup: int, k: int, T: int, evaluate: Callable) -> Iterator[Round]:
    """GP-EI over a k-dimensional hashing embedding of the box (HeSBO); z = 0 (h0) is its first trial."""
    emb = embedding(family, k, seed)
    names = [f"z{i:03d}" for i in range(k)]
    study = optuna.create_study(direction="minimize", sampler=GPEISampler(n_startup_trials=n_startup, seed=seed))
    study.enqueue_trial(dict.fromkeys(names, 0.0))
    dists: dict[str, Any] = {n: optuna.distributions.FloatDistribution(-1.0, 1.0) for n in names}
    return _study_rounds(study, dists, lambda z: embed(family, emb, z), T, evaluate)


def random_rounds(family: Family, seed: int, T: int, evaluate: Callable) -> Iterator[Round]:
    """h0, then points drawn uniformly from the box."""
    rng = np.random.default_rng(seed)
    h = family.h0
    while True:
        yield Round(evaluation(T), h, float(evaluate(h)))
        h = rng.uniform(family.low, family.high).astype(np.float32)


def cma_rounds(family: Family, seed: int, full_max_dim: int, T: int, evaluate: Callable) -> Iterator[Round]:
    """h0, then CMA-ES from mean h0 and σ0 = (narrowest side of the box) / 6, Optuna's default."""
    yield Round(evaluation(T), family.h0, float(evaluate(family.h0)))
    kind = cmaes.CMA if family.dim <= full_max_dim else cmaes.SepCMA
    bounds = np.stack([family.low, family.high], axis=1).astype(np.float64)
    es = kind(
        mean=family.h0.astype(np.float64), sigma=float(np.min(family.high - family.low)) / 6, bounds=bounds, seed=seed
    )
    while True:
        told = []
        for _ in range(es.population_size):
            x = es.ask()
            h = x.astype(np.float32)
            value = float(evaluate(h))
            told.append((x, _finite(value)))
            yield Round(evaluation(T), h, value)
        es.tell(told)
