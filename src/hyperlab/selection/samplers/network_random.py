"""Random search over a finite set of *networks*, without replacement.

Optuna's ``RandomSampler`` draws each parameter of the encoding uniformly, so
``n_layers`` is uniform: the 6 one-layer networks get as much of the budget as
the 216 three-layer ones, and a network can come twice (its inactive widths
differ). This sampler draws a whole network per trial, with fixed weights
renormalized over the networks no other trial of the study has taken:

- ``weights=None``: uniform over the networks (the fair baseline);
- e.g. ``1 / (depths * networks of that depth)``: layer-uniform, as Optuna's
  random search, but without repeats.

It is an ordinary :class:`optuna.samplers.BaseSampler` working through
``sample_independent``: at the trial's first parameter it draws the network,
claims it in the trial's system attributes (so concurrent trials of other
threads or processes sharing the storage see it), reads the study back and
draws again if another trial took the same network meanwhile
(claim-then-check, :func:`hyperlab.selection.samplers.claims.claim_checked`,
as the GP samplers do), then hands out that network's canonical parameter
values. A parameter it does not know is drawn by Optuna's ``RandomSampler``.
Once every network is taken, draws restart from all of them (repeats become
unavoidable).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler, RandomSampler

from hyperlab.selection.samplers.claims import alive_claims, claim_checked, others

CLAIM_ATTR = "hyperlab:network"


def layer_uniform_weights(depths: Sequence[int] | np.ndarray) -> np.ndarray:
    """Weights that make every depth equally likely, uniform within a depth."""
    depths = np.asarray(depths)
    values, counts = np.unique(depths, return_counts=True)
    per = dict(zip(values.tolist(), counts.tolist()))
    return np.array([1.0 / (len(values) * per[d]) for d in depths.tolist()])


class NetworkRandomSampler(BaseSampler):
    """Draw a network per trial among those not yet taken in the study.

    Args:
        networks: the canonical parameter dict of each network (all with the same keys).
        key: maps a trial's parameter dict (any encoding) to its network's identity;
            ``key(networks[i])`` must be distinct for every ``i``.
        weights: a positive weight per network (``None``: uniform).
        seed: seeds every draw.
    """

    def __init__(
        self,
        networks: Sequence[dict[str, Any]],
        key: Callable[[dict[str, Any]], Hashable],
        weights: Sequence[float] | None = None,
        seed: int | None = None,
    ):
        if not networks:
            raise ValueError("networks is empty")
        self._networks = [dict(n) for n in networks]
        self._keys = [key(n) for n in self._networks]
        if len(set(self._keys)) != len(self._keys):
            raise ValueError("two networks have the same key")
        w = np.ones(len(networks)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(networks),) or not np.all(np.isfinite(w) & (w > 0)):
            raise ValueError("weights must be one positive finite number per network")
        self._weights = w / w.sum()
        self._key = key
        self._names = set(self._networks[0])
        self._rng = np.random.RandomState(seed)
        self._random = RandomSampler(seed=None if seed is None else seed + 1)
        self._lock = threading.Lock()
        self._plans: dict[int, int] = {}  # trial id -> network index

    def reseed_rng(self) -> None:
        self._rng = np.random.RandomState()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def taken(self, study, trial) -> set:
        """Identities of the networks other trials have (by their params) or claim (while running)."""
        return self._taken_by(others(study, trial))

    def _taken_by(self, trials) -> set:
        out = {self._key(t.params) for t in trials if self._names <= t.params.keys()}
        claims = alive_claims(trials, CLAIM_ATTR)  # a trial whose params are all set is known by them
        return out | {self._keys[int(c)] for t, c in claims if not self._names <= t.params.keys()}

    def _draw(self, study, trial) -> int:
        """A network among the untaken ones (all of them once none is left), by the fixed weights."""
        taken = self.taken(study, trial)
        free = np.array([k not in taken for k in self._keys], dtype=bool)
        w = np.where(free, self._weights, 0.0) if free.any() else self._weights
        return int(self._rng.choice(len(w), p=w / w.sum()))

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        if param_name not in self._names:
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        with self._lock:
            i = self._plans.get(trial._trial_id)
        if i is None:  # the trial's first parameter: draw, claim and check (under the lock: threads never collide)
            i = claim_checked(
                study,
                trial,
                CLAIM_ATTR,
                choose=lambda attempt, rng: self._draw(study, trial),
                encode=int,
                taken=lambda trials, j: self._keys[j] in self._taken_by(trials),
                guard=lambda: self._lock,
                every_point_taken=lambda trials: set(self._keys) <= self._taken_by(trials),
            )
            with self._lock:
                self._plans[trial._trial_id] = i
        value = self._networks[i][param_name]
        if not param_distribution._contains(param_distribution.to_internal_repr(value)):
            raise ValueError(f"network {self._keys[i]!r}: {param_name} = {value!r} is outside {param_distribution}")
        return value

    def after_trial(self, study, trial, state, values) -> None:
        with self._lock:
            self._plans.pop(trial._trial_id, None)


__all__ = ["NetworkRandomSampler", "layer_uniform_weights", "CLAIM_ATTR"]
