"""Every HPO method on one hyperparameter family, by its label: the one dispatch both stages use.

A *label* names a method as the tables do: ``exact``, ``drmad``, ``kpiece<K>``, ``ift``,
``online<n>``, ``hypernet`` (the hypergradient side, :mod:`.gradient`, :mod:`.hypernet`) and
``gp_ei``, ``tpe``, ``random``, ``cmaes``, ``hesbo`` (the search side, :mod:`.search`).
:class:`Pieces` compiles each method's jitted pieces once per family and hands out its rounds
(:mod:`.budget`), each carrying its cost (:mod:`.cost`). The ``hpo`` stage is the ``layer``
family run through this; ``hpo_scale`` runs every family.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from hyperlab.hpo import best_response, cost, gradient
from hyperlab.hpo import search_methods as search
from hyperlab.hpo.budget import memory_bytes
from hyperlab.hpo.families import Family
from hyperlab.hpo.names import SCALE_GRADIENT, SCALE_SEARCH
from hyperlab.hpo.problem import inner, objective, scores

#: the method names of the hypergradient side, without their number (``kpiece4`` -> ``kpiece``): the
#: ``hpo_scale`` ones and the hypernetwork (run by the ``hpo`` stage)
GRADIENT = (*SCALE_GRADIENT, "hypernet")
#: ... and of the search side
SEARCH = SCALE_SEARCH


class Settings(NamedTuple):
    """What the methods need besides the family and T (from the ``hpo`` or ``hpo_scale`` section)."""

    outer_lr: float  # Adam on h, every descent and online method
    online_every: int  # inner steps between two online hyper-steps
    cg_maxiter: int  # conjugate-gradient iterations of IFT
    n_startup_trials: int  # GP-EI, TPE, HeSBO: random trials after h0
    hypernet: best_response.HypernetSettings | None = None
    embedding_dim: int | None = None  # hesbo
    cma_full_max_dim: int | None = None  # cmaes: full covariance up to here


def split(label: str) -> tuple[str, int | None]:
    """``kpiece4`` -> (``kpiece``, 4); ``exact`` -> (``exact``, None)."""
    base = label.rstrip("0123456789")
    return base, (int(label[len(base) :]) if len(base) < len(label) else None)


def label(name: str, pieces: int, order: int) -> str:
    """A method list's name as a label: ``kpiece`` -> ``kpiece<K>``, ``online`` -> ``online<n>``."""
    return {"kpiece": f"kpiece{pieces}", "online": f"online{order}"}.get(name, name)


def is_gradient(label: str) -> bool:
    """Whether a method label (``exact``, ``kpiece4``, ``online5``, ...) names a hypergradient method."""
    return split(label)[0] in GRADIENT


class Pieces:
    """The jitted functions of one family, compiled once and shared by its methods and seeds."""

    def __init__(self, family: Family, T: int, settings: Settings):
        self.family, self.T, self.settings = family, T, settings
        self.f, self.scores = jax.jit(objective(family, T)), jax.jit(scores(family, T))
        self._pieces: dict[str, Any] = {}
        self._grads: dict[tuple[str, int], Any] = {}

    def hypergradient(self, how: str, n: int = 1):
        """The jitted hypergradient ``how`` (:data:`gradient.HYPERGRADIENTS`; ``n``: K of ``kpiece``, the order
        of ``truncated``), compiled once: the descent steps and the accuracy tables share it."""
        if (how, n) not in self._grads:
            fn = gradient.hypergradient(
                self.family, self.T, how, pieces=n, cg_maxiter=self.settings.cg_maxiter, order=n
            )
            self._grads[how, n] = jax.jit(fn)
        return self._grads[how, n]

    def piece(self, label: str):
        """The method's unit of work: a descent step, an online pass, the hypernetwork's (init, chunk), or None."""
        if label not in self._pieces:
            self._pieces[label] = self._build(label)
        return self._pieces[label]

    def _build(self, label: str):
        fam, T, s = self.family, self.T, self.settings
        base, n = split(label)
        if base in ("exact", "drmad", "kpiece", "ift"):
            round_cost = cost.round_cost(base, T, s.cg_maxiter)
            return gradient.descent_step(fam, self.hypergradient(base, n or 1), s.outer_lr, round_cost)
        if base == "online":
            return gradient.online_pass(fam, T, n or 1, s.online_every, s.outer_lr)
        if base == "hypernet":
            assert s.hypernet is not None, "hypernet needs its settings"
            return best_response.init(fam, T, s.hypernet), best_response.chunk(fam, s.hypernet)
        if base in SEARCH:
            return None
        raise ValueError(f"unknown method {label!r}; allowed: {', '.join(GRADIENT + SEARCH)}")

    def rounds(self, label: str, seed: int, data, tree, w0):
        """The method's rounds from h0 on the seed's (data, tree, w0)."""
        fam, T, s, piece = self.family, self.T, self.settings, self.piece(label)
        base = split(label)[0]
        if base == "online":
            return gradient.online_rounds(T, piece, self.f, data, tree, w0, fam.h0)
        if base == "hypernet":
            assert s.hypernet is not None
            key = jax.random.PRNGKey(seed)
            return best_response.rounds(T, s.hypernet, piece, self.f, (data, tree, w0), fam.h0, key)
        if piece is not None:
            return gradient.descent_rounds(piece, data, tree, w0, fam.h0)

        def evaluate(h):
            return self.f(data, tree, w0, h)

        if base in search.OPTUNA:
            return search.optuna_rounds(fam, base, seed, s.n_startup_trials, T, evaluate)
        if base == "random":
            return search.random_rounds(fam, seed, T, evaluate)
        if base == "hesbo":
            assert s.embedding_dim is not None, "hesbo needs embedding_dim"
            return search.hesbo_rounds(fam, seed, s.n_startup_trials, s.embedding_dim, T, evaluate)
        assert s.cma_full_max_dim is not None, "cmaes needs cma_full_max_dim"
        return search.cma_rounds(fam, seed, s.cma_full_max_dim, T, evaluate)

    def unit(self, data, tree, w0) -> cost.Unit:
        """The family's budget unit at h0 on these weights: the forward-step equivalents of a reverse step and of a
        CG product, from XLA's cost analysis of its single-step programs (:func:`cost.measure`)."""
        p = inner(self.family, data, tree)
        return cost.measure(p.step, p.train_loss, w0, jnp.asarray(self.family.h0))

    def memory(self, label: str, data, tree, w0) -> int | None:
        """XLA's footprint estimate of the method's largest program: its hypergradient, its online pass,
        the hypernetwork's chunk, or f for the searches."""
        h0, piece = jnp.asarray(self.family.h0), self.piece(label)
        base, n = split(label)
        if base == "online":
            return memory_bytes(piece, data, tree, w0, h0)
        if base == "hypernet":
            state = piece[0](data, tree, w0, h0, jax.random.PRNGKey(0))
            return memory_bytes(piece[1], data, tree, w0, state)
        if piece is not None:
            return memory_bytes(self.hypergradient(base, n or 1), data, tree, w0, h0)
        return memory_bytes(self.f, data, tree, w0, h0)
