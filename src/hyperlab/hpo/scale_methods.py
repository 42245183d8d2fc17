"""Every method of the dimension study on one hyperparameter family, as rounds under one budget.

The inner run of a :class:`~hyperlab.hpo.families.Family` is the step map

    Φ(w, h, t) = w − α_t(h) ⊙ ∇_w L_train(w, h),    L_train = CE_train + ½ Σ c(h) w²,

T steps from the seed's initialization w0 (the MLP of :mod:`hyperlab.hpo.problem`,
full batch), and f(h) = CE_val(w_T). The methods (:data:`GRADIENT`, :data:`SEARCH`):

* ``exact``: ``jax.grad`` through the T steps;
* ``kpiece<K>`` / ``drmad`` (K = 1): the guarded reverse pass along K + 1 stored iterates
  (:func:`hyperlab.bilevel.reverse.checkpointed_hypergrad`);
* ``ift``: the implicit-function hypergradient at w_T (Lorraine et al. 2020, conjugate
  gradients); it assumes w_T minimizes L_train, so learning rates get no gradient;
* ``online<n>``: one training run with a hyper-step every ``every`` inner steps, each on the
  n-step look-ahead hypergradient (:func:`hyperlab.bilevel.reverse.lookahead_hypergrad`);
* ``gp_ei`` (this project's GP-EI sampler) and ``tpe`` (Optuna's, multivariate): Optuna
  studies over the box;
* ``random`` (uniform in the box) and ``cmaes`` (the ``cmaes`` package Optuna's
  ``CmaEsSampler`` runs: full covariance up to ``cma_full_max_dim``, the separable variant
  above, Ros & Hansen 2008), asked and told directly;
* ``hesbo``: GP-EI in a hashing embedding (Nayebi, Munteanu & Poloczek 2019, HeSBO): an Optuna
  study of this project's GP-EI over z in [-1, 1]^k, evaluated at h whose every coordinate is
  ± one coordinate of z (:func:`embed`), so Bayesian optimization runs at every dimension of h.

The descent methods and the search methods all start at h0 (the search's first trial).
Adam on h, projected to the box, restarts the inner run from w0 at every outer step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, cast

import cmaes
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optuna
from jax.flatten_util import ravel_pytree

from hyperlab.bilevel import hypergrad as hg
from hyperlab.bilevel import reverse
from hyperlab.hpo.budget import Round
from hyperlab.hpo.families import Family
from hyperlab.hpo.gradient import DescentStep, OnlinePass
from hyperlab.hpo.names import SCALE_GRADIENT, SCALE_SEARCH
from hyperlab.hpo.problem import Data, cross_entropy, error_rate, forward, init_weights
from hyperlab.selection.samplers.gp import GPEISampler

GRADIENT, SEARCH = SCALE_GRADIENT, SCALE_SEARCH
OPTUNA = ("gp_ei", "tpe")  # run through an Optuna study (its in-memory storage costs O(d^2) per trial)


def method_label(name: str, params) -> str:
    """``kpiece`` -> ``kpiece<K>``, ``online`` -> ``online<n>``; the rest as they are."""
    return {"kpiece": f"kpiece{params.pieces}", "online": f"online{params.order}"}.get(name, name)


def is_gradient(label: str) -> bool:
    """Whether a method label (``exact``, ``kpiece4``, ``online5``, ...) names a hypergradient method."""
    return label.rstrip("0123456789") in GRADIENT


class Inner(NamedTuple):
    """The inner problem of one family on one data set and network shape."""

    step: Callable  # Φ(w, h, t)
    train_loss: Callable  # L_train(w, h)
    val: Callable  # CE_val(w)
    scores: Callable  # w -> {val_loss, val_error, test_loss, test_error}


def inner(family: Family, data: Data, tree: dict) -> Inner:
    """The family's inner problem over flat weights (``data`` may be a tracer: it is a jit argument)."""
    _, unravel = ravel_pytree(tree)

    def ce(w, x, y):
        return cross_entropy(forward(unravel(w), x), y)

    def train_loss(w, h):
        return ce(w, data.x_train, data.y_train) + 0.5 * jnp.sum(family.l2(h) * w * w)

    def step(w, h, t):
        return w - family.lr(h, t) * jax.grad(train_loss)(w, h)

    def scores(w):
        val, test = forward(unravel(w), data.x_val), forward(unravel(w), data.x_test)
        return {
            "val_loss": cross_entropy(val, data.y_val),
            "val_error": error_rate(val, data.y_val),
            "test_loss": cross_entropy(test, data.y_test),
            "test_error": error_rate(test, data.y_test),
        }

    return Inner(step, train_loss, lambda w: ce(w, data.x_val, data.y_val), scores)


def initial_weights(sizes, seed: int) -> tuple[dict, jax.Array]:
    """The seed's initialization, as the pytree and as the flat vector the methods work on."""
    tree = init_weights(sizes, jax.random.PRNGKey(seed))
    return tree, ravel_pytree(tree)[0]


def objective(family: Family, T: int):
    """f(h) = CE_val(w_T(h)) as ``(data, tree, w0, h) -> f`` (traceable)."""

    def f(data, tree, w0, h):
        p = inner(family, data, tree)
        return p.val(reverse.train(p.step, w0, h, T))

    return f


def project(family: Family, h: jax.Array) -> jax.Array:
    return jnp.clip(h, jnp.asarray(family.low, h.dtype), jnp.asarray(family.high, h.dtype))


# ------------------------------------------------------- hypergradients: (data, tree, w0, h) -> (f, g, steps reversed)


def hypergradient(family: Family, T: int, name: str, *, pieces: int = 4, cg_maxiter: int = 30, order: int = 1):
    """The method's hypergradient ``(data, tree, w0, h) -> (f(h), df/dh, steps reversed)`` (traceable)."""

    def fn(data, tree, w0, h):
        p = inner(family, data, tree)
        if name == "exact":
            f, g = reverse.exact_hypergrad(p.step, p.val, w0, h, T)
            return f, g, jnp.asarray(T, jnp.int32)
        if name in ("kpiece", "drmad"):
            f, rev = reverse.checkpointed_hypergrad(p.step, p.val, w0, h, T, 1 if name == "drmad" else pieces)
            return f, rev.grad, rev.steps
        if name == "ift":
            w_T = reverse.train(p.step, w0, h, T)
            g = hg.ift_hypergrad(p.train_loss, lambda w, hh: p.val(w), w_T, h, cg_maxiter=cg_maxiter)
            return p.val(w_T), g, jnp.asarray(0, jnp.int32)
        if name == "truncated":  # the online methods' n-order approximation, at the run's end
            w_start = reverse.train(p.step, w0, h, T - order)
            f, g = reverse.lookahead_hypergrad(p.step, p.val, w_start, h, jnp.asarray(T - order, jnp.int32), order)
            return f, g, jnp.asarray(order, jnp.int32)
        raise ValueError(f"unknown hypergradient {name!r}")

    return fn


def descent_step(family: Family, hypergrad: Callable, outer_lr: float) -> DescentStep:
    """One outer step ``(data, tree, w0, h, opt_state) -> (f(h), h_next, opt_state)``, carrying ``init``
    (driven by :func:`hyperlab.hpo.gradient.descent_rounds`). ``hypergrad`` is called as it is given
    (jitted once, it is shared with the accuracy table); the Adam update is jitted apart."""
    opt = optax.adam(outer_lr)

    @jax.jit
    def update(g, h, opt_state):
        g = jnp.where(jnp.isfinite(g), g, 0.0)  # a coordinate without a finite gradient is left where it is
        updates, opt_state = opt.update(g, opt_state, h)
        return project(family, optax.apply_updates(h, updates)), opt_state

    def step(data, tree, w0, h, opt_state):
        f, g, _ = hypergrad(data, tree, w0, h)
        return (f, *update(g, h, opt_state))

    cast(DescentStep, step).init = opt.init
    return cast(DescentStep, step)


def online_pass(family: Family, T: int, order: int, every: int, outer_lr: float) -> OnlinePass:
    """One jitted pass ``(data, tree, w0, h) -> (h_end, f(h_end))``, carrying its ``cost`` in inner steps
    (driven by :func:`hyperlab.hpo.gradient.online_rounds`).

    T inner steps from w0 with a hyper-step (Adam, projected) before every ``every`` of
    them, on the n-step look-ahead hypergradient at the current w; then f(h_end) from T
    fresh steps with h_end held fixed.
    """
    opt, outer_steps = optax.adam(outer_lr), max(T // every, 1)

    @jax.jit
    def run(data, tree, w0, h):
        p = inner(family, data, tree)

        def outer(carry, k):
            w, h, state = carry
            t0 = k * every
            _, g = reverse.lookahead_hypergrad(p.step, p.val, w, h, t0, order)
            updates, state = opt.update(jnp.where(jnp.isfinite(g), g, 0.0), state, h)
            h = project(family, optax.apply_updates(h, updates))
            w, _ = jax.lax.scan(lambda v, i: (p.step(v, h, t0 + i), None), w, jnp.arange(every, dtype=jnp.int32))
            return (w, h, state), None

        (_, h_end, _), _ = jax.lax.scan(outer, (w0, h, opt.init(h)), jnp.arange(outer_steps, dtype=jnp.int32))
        return h_end, p.val(reverse.train(p.step, w0, h_end, T))

    cast(OnlinePass, run).cost = outer_steps * (every + order) + T
    return cast(OnlinePass, run)


# ------------------------------------------------------------------ search methods: a point of the box per round


def _finite(value: float) -> float:
    return value if np.isfinite(value) else float(np.finfo(np.float32).max)


def optuna_rounds(family: Family, name: str, seed: int, n_startup: int, T: int, f, data, tree, w0) -> Iterator[Round]:
    """An Optuna study (``gp_ei`` or ``tpe``) asking points of the box; h0 is its first trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
    return _study_rounds(study, dists, lambda x: x.astype(np.float32), T, f, data, tree, w0)


def _study_rounds(study: optuna.Study, dists: dict, to_h: Callable, T: int, f, data, tree, w0) -> Iterator[Round]:
    """Ask ``study`` a point of ``dists`` (in their order), evaluate f at ``to_h`` of it, tell; one round each."""
    names = list(dists)
    while True:
        trial = study.ask(dists)
        chosen = trial.params  # one copy of the dict (the property copies it)
        h = to_h(np.array([chosen[n] for n in names]))
        value = float(f(data, tree, w0, h))
        study.tell(trial, _finite(value))
        yield Round(T, h, value)


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


def hesbo_rounds(family: Family, seed: int, n_startup: int, k: int, T: int, f, data, tree, w0) -> Iterator[Round]:
    """GP-EI over a k-dimensional hashing embedding of the box (HeSBO); z = 0 (h0) is its first trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    emb = embedding(family, k, seed)
    names = [f"z{i:03d}" for i in range(k)]
    study = optuna.create_study(direction="minimize", sampler=GPEISampler(n_startup_trials=n_startup, seed=seed))
    study.enqueue_trial(dict.fromkeys(names, 0.0))
    dists: dict[str, Any] = {n: optuna.distributions.FloatDistribution(-1.0, 1.0) for n in names}
    return _study_rounds(study, dists, lambda z: embed(family, emb, z), T, f, data, tree, w0)


def random_rounds(family: Family, seed: int, T: int, f, data, tree, w0) -> Iterator[Round]:
    """h0, then points drawn uniformly from the box."""
    rng = np.random.default_rng(seed)
    h = family.h0
    while True:
        yield Round(T, h, float(f(data, tree, w0, h)))
        h = rng.uniform(family.low, family.high).astype(np.float32)


def cma_rounds(family: Family, seed: int, full_max_dim: int, T: int, f, data, tree, w0) -> Iterator[Round]:
    """h0, then CMA-ES from mean h0 and σ0 = (narrowest side of the box) / 6, Optuna's default."""
    yield Round(T, family.h0, float(f(data, tree, w0, family.h0)))
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
            value = float(f(data, tree, w0, h))
            told.append((x, _finite(value)))
            yield Round(T, h, value)
        es.tell(told)
