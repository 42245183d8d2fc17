"""Which network a study recommends after its trials: one post-hoc rule, the same for every strategy.

A study ends with observations, each one seed's validation error of a network.
The observed incumbent (the lowest observation) rewards a lucky draw: a
network whose drawn seed happened to be good beats a truly better one. The
model-based "best point" that Ax and BoTorch report instead recommends the
evaluated point with the lowest *posterior mean* of a GP fitted to the
observations (Letham et al. 2019, "Constrained Bayesian optimization with
noisy experiments", section 2), which shrinks a single lucky observation
towards what its neighbours and repeats say.

:func:`recommend` fits this project's GP
(:mod:`hyperlab.selection.samplers.gp`: Matern-5/2 ARD kernel with a learned
noise level, MAP hyperparameters) on a study's completed trials, in the
encoding the GP samplers search (:func:`~hyperlab.selection.space.encoding.suggest_arch`),
and returns the evaluated network with the lowest posterior mean. It reads
only the observations, never the strategy, so every strategy is judged by the
same rule.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from hyperlab.selection.samplers.gp.gp import KernelHypers, Posterior, fit_kernel, standardize
from hyperlab.selection.samplers.gp.search_space import SearchSpace
from hyperlab.selection.samplers.gp.threads import single_threaded_blas
from hyperlab.selection.space.encoding import Space, network_params


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """The Optuna distributions of the encoding (what :func:`suggest_arch` defines on a trial)."""
    out: dict[str, BaseDistribution] = {"n_layers": IntDistribution(min(space.layers), max(space.layers))}
    for i in range(space.max_layers):
        if space.log2:
            lo, hi = int(math.log2(space.widths[0])), int(math.log2(space.widths[-1]))
            out[f"log2_units_l{i}"] = IntDistribution(lo, hi)
        else:
            out[f"units_l{i}"] = CategoricalDistribution(list(space.widths))
    return out


def posterior_means(archs: list[str], values: np.ndarray, space: Space) -> pd.Series:
    """GP posterior mean (in the observations' units) of every distinct network of ``archs``.

    ``archs[i]`` was observed with validation error ``values[i]``; a network
    observed twice enters the GP twice (its noise level is learned). With one
    observation, or all observations equal, the GP has nothing to smooth: the
    means are the observed values' mean per network.
    """
    values = np.asarray(values, dtype=float)
    distinct = sorted(set(archs))
    if len(values) < 2 or np.ptp(values) == 0.0:
        return pd.Series(values, index=archs).groupby(level=0).mean().reindex(distinct)
    ss = SearchSpace(distributions(space))
    X = ss.features(network_params(space, archs))
    z, center, spread = standardize(values)
    kernel = fit_kernel(X, z, ss.is_categorical, [KernelHypers.default(ss.dim)])
    mean, _ = Posterior(X, z, ss.is_categorical, kernel).predict(ss.features(network_params(space, distinct)))
    return pd.Series(center + spread * mean, index=distinct)


def recommend(trials: pd.DataFrame, space: Space) -> str:
    """The evaluated network with the lowest GP posterior mean among ``trials``' COMPLETE ones ('' if none).

    ``trials``: one study's rows (columns ``state``, ``arch``, ``val_error``,
    ``trial``). Ties go to the network first in name order, so the rule is a
    function of the observations alone.
    """
    ok = trials[trials["state"] == "COMPLETE"].sort_values("trial", kind="stable")
    if ok.empty:
        return ""
    means = posterior_means(ok["arch"].astype(str).tolist(), ok["val_error"].to_numpy(float), space)
    return str(means.idxmin())


def recommendation_regrets(
    trials: pd.DataFrame, nets: pd.DataFrame, space: Space, checkpoints: list[int], worst: float
) -> pd.DataFrame:
    """Per (repeat, checkpoint): the true regret of :func:`recommend` on the study's first ``checkpoint`` trials.

    ``nets``: the truth (index arch, seed-mean ``val_error``); a study with no
    completed trial yet has regret ``worst``. Columns: repeat, trial, recommended, regret.
    """
    best = float(nets["val_error"].min())
    rows = []
    for repeat, g in trials.sort_values(["repeat", "trial"]).groupby("repeat", sort=True):
        g = g[g["arch"].astype(str).isin(nets.index)]
        for t in checkpoints:
            with single_threaded_blas():  # small matrices: threads cost more than they save (see .threads)
                arch = recommend(g[g["trial"] < t], space)
            regret = worst if arch == "" else float(nets.loc[arch, "val_error"]) - best
            rows.append((repeat, t, arch, regret))
    return pd.DataFrame(rows, columns=["repeat", "trial", "recommended", "regret"])
