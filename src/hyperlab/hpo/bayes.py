"""Bayesian optimization over the same box of h: this project's GP-EI, Optuna's TPE, random search.

Each trial is one evaluation of f(h) = CE_val(w_T(h)) (T inner steps). The first
trial is h0 (``enqueue_trial``), so every method's record starts at the same point;
then ``n_startup_trials`` random draws before the model is used. The sampler's own time
(the GP fit and the acquisition search) is spent inside the budget: it is part of what
BO costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import optuna

from hyperlab.hpo.budget import Round
from hyperlab.hpo.problem import Spec
from hyperlab.selection.samplers.gp import GPEISampler


def coordinate_names(spec: Spec) -> list[str]:
    """Names of the coordinates of h: ``log_l2_<layer>`` then ``log_lr`` when tuned."""
    return [f"log_l2_{i}" for i in range(spec.n_layers)] + (["log_lr"] if spec.tune_lr else [])


def make_sampler(name: str, seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    if name == "gp_ei":
        return GPEISampler(n_startup_trials=n_startup_trials, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; allowed: gp_ei, tpe, random")


def rounds(spec: Spec, sampler: optuna.samplers.BaseSampler, f: Callable, data, tree, w0, h0) -> Iterator[Round]:
    """Trials forever: ask a point of the box, train T steps, tell f."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = coordinate_names(spec)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(dict(zip(names, map(float, np.asarray(h0)))))
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        n: optuna.distributions.FloatDistribution(lo, hi) for n, lo, hi in zip(names, spec.low, spec.high)
    }
    while True:
        trial = study.ask(dists)
        h = np.array([trial.params[n] for n in names], np.float32)
        value = float(f(data, tree, w0, h))
        study.tell(trial, value if np.isfinite(value) else float(np.finfo(np.float32).max))
        yield Round(spec.T, h, value)
