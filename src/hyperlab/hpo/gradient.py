"""The hypergradient methods, once, for every hyperparameter family (both HPO stages run these).

A hypergradient here is ``(data, tree, w0, h) -> (f(h), df/dh, steps reversed)`` over the
flat weights of :mod:`hyperlab.hpo.problem` (:func:`hypergradient`):

* ``exact``: ``jax.grad`` through the T steps (memory T + 1 weight vectors; Maclaurin et al.
  2015's reference), :func:`hyperlab.bilevel.reverse.exact_hypergrad`;
* ``kpiece`` / ``drmad`` (K = 1): the guarded reverse pass along K + 1 stored iterates
  linearly interpolated (Fu et al. 2016), :func:`hyperlab.bilevel.reverse.checkpointed_hypergrad`;
* ``ift``: the implicit-function hypergradient at w_T (Lorraine et al. 2020, eq. 4, conjugate
  gradients); it assumes w_T minimizes L_train, so learning rates get no gradient;
* ``truncated``: the n-step look-ahead hypergradient over the last n of the T steps (w_{T-n}
  held constant): the approximation the online methods use, measured against ``exact``.

:func:`descent_step` / :func:`descent_rounds` are the outer loop (Adam on h, projected to the
box, the inner training rerun from w0 every step, as Maclaurin et al. and DrMAD do);
:func:`online_pass` / :func:`online_rounds` the online loop (hyper-steps alternating with
inner steps along one training run, Franceschi et al. 2017).

**Non-finite hypergradients** (one policy, :func:`finite_or_zero`, for every descent and
online method): a coordinate whose hypergradient is NaN or ±inf gets a zero gradient, so
Adam leaves it where it is and the other coordinates still move. The objective value is
never altered: a NaN f stays NaN in the trace.

**Cost** (one accounting, :mod:`hyperlab.hpo.cost`): every round carries the forward steps
(step-map applications), reverse steps (VJPs of the step map) and conjugate-gradient
products (Hessian-vector products) it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.bilevel import hypergrad as hg
from hyperlab.bilevel import reverse
from hyperlab.hpo import cost
from hyperlab.hpo.budget import Round
from hyperlab.hpo.families import Family
from hyperlab.hpo.problem import inner, project

#: the hypergradients :func:`hypergradient` builds (``truncated``: the online methods' n-step one)
HYPERGRADIENTS = ("exact", "kpiece", "drmad", "ift", "truncated")


class DescentStep(Protocol):
    """:func:`descent_step`'s step, carrying its optimizer's ``init`` and its cost per round."""

    init: Callable[..., Any]
    cost: cost.Cost

    def __call__(self, data: Any, tree: Any, w0: Any, h: Any, opt_state: Any) -> Any: ...


class OnlinePass(Protocol):
    """:func:`online_pass`'s jitted pass, carrying its cost per pass."""

    cost: cost.Cost

    def __call__(self, data: Any, tree: Any, w0: Any, h: Any) -> Any: ...


def finite_or_zero(g: jax.Array) -> jax.Array:
    """The one policy for non-finite hypergradients: such a coordinate gets 0 (it stays where it is)."""
    return jnp.where(jnp.isfinite(g), g, 0.0)


def hypergradient(family: Family, T: int, name: str, *, pieces: int = 4, cg_maxiter: int = 30, order: int = 1):
    """The method's hypergradient ``(data, tree, w0, h) -> (f(h), df/dh, steps reversed)`` (traceable)."""
    if name not in HYPERGRADIENTS:
        raise ValueError(f"unknown hypergradient {name!r}; allowed: {', '.join(HYPERGRADIENTS)}")

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
        w_start = reverse.train(p.step, w0, h, T - order)  # truncated
        f, g = reverse.lookahead_hypergrad(p.step, p.val, w_start, h, jnp.asarray(T - order, jnp.int32), order)
        return f, g, jnp.asarray(order, jnp.int32)

    return fn


def descent_step(family: Family, hypergrad: Callable, outer_lr: float, round_cost: cost.Cost) -> DescentStep:
    """One outer step ``(data, tree, w0, h, opt_state) -> (f(h), h_next, opt_state)``, carrying ``init`` and
    ``cost`` (driven by :func:`descent_rounds`). ``hypergrad`` is called as it is given (jitted once, it is
    shared with the accuracy table); the Adam update is jitted apart."""
    opt = optax.adam(outer_lr)

    @jax.jit
    def update(g, h, opt_state):
        updates, opt_state = opt.update(finite_or_zero(g), opt_state, h)
        return project(family, optax.apply_updates(h, updates)), opt_state

    def step(data, tree, w0, h, opt_state):
        f, g, _ = hypergrad(data, tree, w0, h)
        return (f, *update(g, h, opt_state))

    cast(DescentStep, step).init = opt.init
    cast(DescentStep, step).cost = round_cost
    return cast(DescentStep, step)


def descent_rounds(step: DescentStep, data, tree, w0, h0) -> Iterator[Round]:
    """Outer steps forever: each costs ``step.cost`` and evaluates f at the h it starts from."""
    h, state = jnp.asarray(h0), step.init(jnp.asarray(h0))
    while True:
        f, h_next, state = step(data, tree, w0, h, state)
        yield Round(step.cost, np.asarray(h), float(f))
        h = h_next


def online_pass(family: Family, T: int, order: int, every: int, outer_lr: float) -> OnlinePass:
    """One jitted pass ``(data, tree, w0, h) -> (h_end, f(h_end))``, carrying its ``cost``
    (driven by :func:`online_rounds`).

    T inner steps from w0 with a hyper-step (Adam, projected) before every ``every`` of
    them, on the n-step look-ahead hypergradient at the current w; then f(h_end) from T
    fresh steps with h_end held fixed: the online loss along the pass is not f of any single h.
    """
    opt, outer_steps = optax.adam(outer_lr), max(T // every, 1)

    @jax.jit
    def run(data, tree, w0, h):
        p = inner(family, data, tree)

        def outer(carry, k):
            w, h, state = carry
            t0 = k * every
            _, g = reverse.lookahead_hypergrad(p.step, p.val, w, h, t0, order)
            updates, state = opt.update(finite_or_zero(g), state, h)
            h = project(family, optax.apply_updates(h, updates))
            w, _ = jax.lax.scan(lambda v, i: (p.step(v, h, t0 + i), None), w, jnp.arange(every, dtype=jnp.int32))
            return (w, h, state), None

        (_, h_end, _), _ = jax.lax.scan(outer, (w0, h, opt.init(h)), jnp.arange(outer_steps, dtype=jnp.int32))
        return h_end, p.val(reverse.train(p.step, w0, h_end, T))

    cast(OnlinePass, run).cost = cost.online(T, order, every)
    return cast(OnlinePass, run)


def online_rounds(T: int, run: OnlinePass, f: Any, data, tree, w0, h0) -> Iterator[Round]:
    """f(h0) first (T forward steps; ``f`` the jitted objective), then passes, each restarting from w0
    at the h the last one ended with (``run`` returns ``(h_end, f(h_end))``)."""
    h = jnp.asarray(h0)
    yield Round(cost.evaluation(T), np.asarray(h), float(f(data, tree, w0, h)))
    while True:
        h, value = run(data, tree, w0, h)
        yield Round(run.cost, np.asarray(h), float(value))


def relative_error(approx: np.ndarray, exact: np.ndarray) -> float:
    """|g − g*| / |g*| over the coordinates compared.

    NaN when the reference has no size (all zeros) or is not finite: there is nothing to be
    relatively wrong about, and +inf would read as "infinitely wrong" in a table or a figure.
    A non-finite ``approx`` against a good reference is NaN too (norm of NaN), never dropped.
    """
    den = float(np.linalg.norm(exact))
    if not np.isfinite(den) or den == 0.0:
        return float("nan")
    return float(np.linalg.norm(approx - exact)) / den


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two hypergradients (1: same descent direction).

    NaN when either has no direction -- a non-finite component (a diverged
    method) or all zeros: 0.0 would claim "orthogonal", a number the method
    never produced, and a mean over points would count it as a result.
    """
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not np.isfinite(den) or den == 0.0:
        return float("nan")
    return float(np.dot(a, b)) / den
