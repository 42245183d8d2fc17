"""How much of the table's final regret is the search, and how much the noise of one seed.

A trial of the table protocol observes *one* seed's validation error of the
network it picks, while the regret is measured on the network's seed-mean
("true") error. The incumbent is the trial with the lowest observation, so a
lesser network whose drawn seed was lucky can beat the best network even when
the search did evaluate it. Two readings separate the two effects:

* :func:`search_regret` -- per repeat, the true regret of the best network the
  search *evaluated* (what the sampler controls), beside the protocol's regret
  of the observed incumbent;
* :func:`oracle_reach` -- the noise floor: the probability that an oracle which
  evaluates exactly the ``k`` truly best networks, one seed draw each, ends with
  regret <= ``target``. Ties go to the truly better network (the oracle's
  favour), so no search evaluating those ``k`` networks can do better.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binom


def search_regret(trials: pd.DataFrame, nets: pd.DataFrame) -> pd.DataFrame:
    """Per repeat: ``regret`` of the observed incumbent and ``search_regret`` of the best evaluated network.

    ``trials``: the rows of one strategy (columns repeat, state, arch, val_error);
    ``nets``: one row per network with its true ``val_error`` (index arch).
    """
    best = float(nets["val_error"].min())
    rows = []
    for repeat, g in trials.groupby("repeat", sort=True):
        ok = g[(g["state"] == "COMPLETE") & g["arch"].isin(nets.index)].sort_values("trial")
        if ok.empty:
            rows.append((repeat, np.nan, np.nan))
            continue
        incumbent = ok.loc[ok["val_error"].idxmin(), "arch"]  # first of equal observations, as the curves
        rows.append(
            (
                repeat,
                float(nets.loc[incumbent, "val_error"]) - best,
                float(nets.loc[ok["arch"].unique(), "val_error"].min()) - best,
            )
        )
    return pd.DataFrame(rows, columns=["repeat", "regret", "search_regret"])


def oracle_reach(
    table: pd.DataFrame, nets: pd.DataFrame, ks, target: float, draws: int = 20000, seed: int = 0
) -> pd.DataFrame:
    """P(final regret <= ``target``) for an oracle evaluating the ``k`` best networks, for each ``k`` in ``ks``.

    Each evaluation draws one of the network's successful seed rows uniformly
    (as :class:`~hyperlab.selection.table.benchmark.TableObjective` does); Monte Carlo
    over ``draws`` seeded draws (standard error <= 0.5 / sqrt(draws)).
    """
    order = nets.sort_values("val_error", kind="stable")
    best = float(order["val_error"].iloc[0])
    ok = table[table["status"] == "ok"]
    observed = {a: g["val_error"].to_numpy(float) for a, g in ok.groupby("arch")}
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        top = list(order.index[:k])
        # (draws, k) observations, columns in true order: argmin's first-of-ties is the truly better network
        obs = np.column_stack([observed[a][rng.integers(len(observed[a]), size=draws)] for a in top])
        regret = order["val_error"].to_numpy(float)[:k][np.argmin(obs, axis=1)] - best
        rows.append({"k_best_evaluated": int(k), "p_reach": float(np.mean(regret <= target + 1e-12))})
    return pd.DataFrame(rows)


def repeats_needed_for_quartile(repeats: int) -> int:
    """Fewest of ``repeats`` final regrets at or below a value for the upper quartile to be at or below it.

    ``np.quantile``'s default (linear) interpolates between the sorted values at
    ``floor(0.75 (R - 1))`` and ``ceil(0.75 (R - 1))``; both must be at or below.
    """
    return math.ceil(0.75 * (repeats - 1)) + 1


def noise_floor(
    table: pd.DataFrame,
    nets: pd.DataFrame,
    target: float,
    repeats: int,
    max_k: int = 20,
    draws: int = 20000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`oracle_reach` for k = 1..``max_k``, with ``p_quartile_bar``: the chance that ``repeats``
    independent oracle runs have their upper-quartile regret <= ``target`` (a binomial tail)."""
    out = oracle_reach(table, nets, range(1, min(max_k, len(nets)) + 1), target, draws, seed)
    need = repeats_needed_for_quartile(repeats)
    out["p_quartile_bar"] = binom.sf(need - 1, repeats, out["p_reach"].to_numpy())
    return out
