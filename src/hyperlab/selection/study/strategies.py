"""The search strategies: a fresh, seeded Optuna sampler per study.

Strategies (every one works on the same fixed-length encoding,
:func:`~hyperlab.selection.space.encoding.suggest_arch`):

- ``random_uniform``: a network drawn uniformly among those not yet evaluated
  (the baseline); ``random_layerwise``: the same without replacement, but layer-uniform
  (every depth equally likely, as Optuna's ``RandomSampler`` on this encoding);
- ``gp_ei``, ``gp_ei_per_second``, ``gp_ei_per_ms_latency``, ``gp_ei_constrained``: GP samplers whose pool
  holds one canonical encoding per network (``canonicalize``), so no network
  repeats while an unevaluated one remains;
- ``tpe``, ``tpe_per_second``, ``tpe_per_ms_latency``, ``tpe_constrained`` (Optuna's ``constraints_func``:
  latency <= budget), ``motpe``: Optuna's TPE as it behaves (it can repeat a network).

``*_per_second`` divide by the trial's cost (``search.cost`` or the strategy's
own ``cost``: training time by default, Snoek et al. 2012); ``*_per_ms_latency``
are the same samplers whose cost is always the network's inference latency
(:data:`~hyperlab.selection.names.LATENCY_COST`); ``*_constrained`` search under ``latency_ms <= budget``.

Every study gets a fresh, seeded sampler (docs/REFERENCES.md §1, Optuna 5.0 facts:
a shared instance would share its random stream). Seeds derive from
``(seed, repeat, worker, resumed trials)`` only, so the strategies of one repeat
start from comparable random streams and a rerun gives the same trials.
:mod:`hyperlab.selection.study.runner` runs the studies.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import optuna

from hyperlab.selection.names import STRATEGIES
from hyperlab.selection.samplers.cost_tpe import CostAwareTPESampler
from hyperlab.selection.samplers.gp import ConstrainedGPEISampler, GPEIPerSecondSampler, GPEISampler
from hyperlab.selection.samplers.network_random import NetworkRandomSampler, layer_uniform_weights
from hyperlab.selection.space.encoding import Space, arch_of_params, canonical_params, network_params
from hyperlab.selection.table.table import Table
from hyperlab.training.network import parse_arch


@dataclasses.dataclass(frozen=True)
class Networks:
    """What the network-aware samplers need of the table: its space and every network's canonical encoding."""

    space: Space
    archs: tuple[str, ...]
    depths: tuple[int, ...]

    @classmethod
    def of(cls, table: Table) -> Networks:
        return cls(table.space, table.archs, tuple(len(parse_arch(a)) for a in table.archs))

    def canonicalize(self, trial_params: dict) -> dict:
        return canonical_params(trial_params, self.space)

    def key(self, trial_params: dict) -> str:
        return arch_of_params(trial_params, self.space)


class LatencyConstraint:
    """Optuna ``constraints_func``: ``latency_ms - budget`` (feasible when <= 0); picklable."""

    def __init__(self, budget: float):
        self.budget = float(budget)

    def __call__(self, trial) -> tuple[float]:
        return (float(trial.user_attrs.get("latency_ms", np.inf)) - self.budget,)


def make_sampler(
    strategy: str, seed: int, n_startup_trials: int, networks: Networks | None = None, budget: float = 1.0
) -> optuna.samplers.BaseSampler:
    """A fresh sampler of ``strategy``; the cost-aware ones read the trial user attribute ``cost``,
    the constrained ones ``latency_ms``. ``networks``: the table's (the random and GP samplers count networks)."""

    def by_network(weights=None, sampler_seed=seed):
        return NetworkRandomSampler(
            # the strategies that sample networks are always given the table's networks
            network_params(networks.space, networks.archs),  # type: ignore[union-attr]
            networks.key,  # type: ignore[union-attr]
            weights,
            seed=sampler_seed,
        )

    # GP samplers: canonical pool, and (until a trial completes, there is no relative search space) every
    # parameter from a network draw among the untaken ones, so early failures cannot repeat a network either
    gp = (
        {}
        if networks is None
        else {
            "canonicalize": networks.canonicalize,
            "independent_sampler": by_network(sampler_seed=(seed + 7919) % 2**31),
        }
    )
    if strategy in ("random_layerwise", "random_uniform"):
        if networks is None:
            return optuna.samplers.RandomSampler(seed=seed)
        return by_network(layer_uniform_weights(networks.depths) if strategy == "random_layerwise" else None)
    if strategy == "gp_ei":
        return GPEISampler(n_startup_trials=n_startup_trials, seed=seed, **gp)
    if strategy in ("gp_ei_per_second", "gp_ei_per_ms_latency"):  # the runner sets which cost the trials carry
        return GPEIPerSecondSampler(n_startup_trials=n_startup_trials, seed=seed, cost_attr="cost", **gp)
    if strategy == "gp_ei_constrained":
        return ConstrainedGPEISampler(
            n_startup_trials=n_startup_trials, seed=seed, budget=budget, constraint_attr="latency_ms", **gp
        )
    if strategy == "tpe_constrained":
        with warnings.catch_warnings():  # Optuna 5 deprecates constraints_func (for Trial.set_constraint), still works
            warnings.simplefilter("ignore", FutureWarning)
            return optuna.samplers.TPESampler(
                n_startup_trials=n_startup_trials, seed=seed, constraints_func=LatencyConstraint(budget)
            )
    if strategy == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed)
    if strategy in ("tpe_per_second", "tpe_per_ms_latency"):
        return CostAwareTPESampler(n_startup_trials=n_startup_trials, seed=seed, cost_attr="cost")
    if strategy == "motpe":  # TPESampler on a study with two directions is MOTPE
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=seed)
    raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")


def sampler_seed(seed: int, repeat: int, worker: int = 0, resumed: int = 0) -> int:
    return int(np.random.SeedSequence([seed, repeat, worker, resumed]).generate_state(1)[0] & 0x7FFFFFFF)
