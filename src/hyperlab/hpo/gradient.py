"""The hypergradient methods on the MNIST problem, each through the library's own functions.

Every hypergradient here is ``(data, w0_tree, w0, h) -> (f(h), df/dh)`` over the flat
weights of :mod:`hyperlab.hpo.problem`:

* ``exact``: :func:`hyperlab.bilevel.drmad.autodiff_hypergrad`, ``jax.grad`` through
  all T steps (memory T + 1 weight vectors; Maclaurin et al. 2015's reference).
* ``kpiece(K)``: :func:`hyperlab.bilevel.drmad.checkpointed_hypergrad`: the reverse pass
  along K + 1 stored iterates linearly interpolated (K = 1 is DrMAD, Fu et al. 2016).
* ``ift``: train T steps, then :func:`hyperlab.bilevel.hypergrad.ift_hypergrad` at w_T
  (Lorraine et al. 2020, eq. 4, conjugate gradients). It assumes w_T is a stationary
  point of L_train, so the learning rate (which does not move the optimum) gets no
  gradient: IFT tunes the L2 coefficients only.
* ``truncated(n)``: the n-order hypergradient of :func:`hyperlab.bilevel.hypergrad.
  unrolled_hypergrad` over the last n of the T steps (w_{T-n} held constant): the
  approximation the online methods use, measured against ``exact``.

The learning rate enters the unrolled methods through the loss: a gradient step with
step 1 on exp(log α)·L_train is the step exp(log α) on L_train, so the n-order
functions of :mod:`hyperlab.bilevel.hypergrad` (whose step size is a constant)
differentiate with respect to log α unchanged.

:func:`descent_rounds` is the outer loop (Adam on h, projected to the box, the inner
training rerun from w0 every step, as Maclaurin et al. and DrMAD do);
:func:`online_rounds` is part 2's online loop (hyper-steps alternating with inner steps
along one training run, :func:`hyperlab.bilevel.hypergrad.run_bilevel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.bilevel import drmad as dm
from hyperlab.bilevel import hypergrad as hg
from hyperlab.hpo.budget import Round
from hyperlab.hpo.problem import Losses, Spec, from_hyper, make_losses, objective, project, to_hyper

Hypergrad = Callable  # (data, w0_tree, w0, h) -> (f(h), df/dh)


class DescentStep(Protocol):
    """:func:`descent_step`'s jitted step, carrying its optimizer's ``init``."""

    init: Callable[..., Any]

    def __call__(self, data: Any, tree: Any, w0: Any, h: Any, opt_state: Any) -> Any: ...


class OnlinePass(Protocol):
    """:func:`online_pass`'s jitted pass, carrying its cost in inner steps."""

    cost: int

    def __call__(self, data: Any, tree: Any, w0: Any, h: Any) -> Any: ...


def scaled_train_loss(spec: Spec, losses: Losses) -> Callable:
    """exp(log α)·L_train(w, λ) as a function of (w, h): a unit gradient step on it is the inner step."""

    def loss(w, h):
        hyper = to_hyper(spec, h)
        return jnp.exp(hyper.log_lr) * losses.train(w, hyper.h)

    return loss


def _val(losses: Losses) -> Callable:
    return lambda w, h: losses.val(w)


def exact(spec: Spec) -> Hypergrad:
    def fn(data, tree, w0, h):
        losses = make_losses(spec, data, tree)
        f, _, g = dm.autodiff_hypergrad(losses.train, losses.val, w0, to_hyper(spec, h), spec.T)
        return f, from_hyper(spec, g)

    return fn


def kpiece(spec: Spec, K: int) -> Hypergrad:
    def fn(data, tree, w0, h):
        losses = make_losses(spec, data, tree)
        f, _, g = dm.checkpointed_hypergrad(losses.train, losses.val, w0, to_hyper(spec, h), spec.T, K)
        return f, from_hyper(spec, g)

    return fn


def ift(spec: Spec, cg_maxiter: int) -> Hypergrad:
    def fn(data, tree, w0, h):
        losses = make_losses(spec, data, tree)
        hyper = to_hyper(spec, h)
        w_T = dm.train(losses.train, w0, hyper, spec.T).w
        g_l2 = hg.ift_hypergrad(losses.train, _val(losses), w_T, hyper.h, cg_maxiter=cg_maxiter)
        return losses.val(w_T), from_hyper(spec, dm.Hyper(g_l2, jnp.zeros_like(hyper.log_lr), hyper.momentum))

    return fn


def truncated(spec: Spec, order: int) -> Hypergrad:
    def fn(data, tree, w0, h):
        losses = make_losses(spec, data, tree)
        w_start = dm.train(losses.train, w0, to_hyper(spec, h), spec.T - order).w
        g = hg.unrolled_hypergrad(scaled_train_loss(spec, losses), _val(losses), w_start, h, lr=1.0, order=order)
        return losses.val(dm.train(losses.train, w_start, to_hyper(spec, h), order).w), g

    return fn


def descent_step(spec: Spec, hypergrad: Hypergrad, outer_lr: float) -> DescentStep:
    """One jitted outer step ``(data, tree, w0, h, opt_state) -> (f(h), h_next, opt_state)``."""
    opt = optax.adam(outer_lr)

    @jax.jit
    def step(data, tree, w0, h, opt_state):
        f, g = hypergrad(data, tree, w0, h)
        updates, opt_state = opt.update(g, opt_state, h)
        return f, project(spec, optax.apply_updates(h, updates)), opt_state

    cast(DescentStep, step).init = opt.init
    return cast(DescentStep, step)


def descent_rounds(T: int, step: DescentStep, data, tree, w0, h0) -> Iterator[Round]:
    """Outer steps forever: each costs T inner steps and evaluates f at the h it starts from."""
    h, state = jnp.asarray(h0), step.init(jnp.asarray(h0))
    while True:
        f, h_next, state = step(data, tree, w0, h, state)
        yield Round(T, np.asarray(h), float(f))
        h = h_next


def online_pass(spec: Spec, order: int, every: int, outer_lr: float) -> OnlinePass:
    """One jitted pass of part 2's online method: ``(data, tree, w0, h) -> (h_path, f(h_end))``.

    T inner steps from w0; before every ``every`` of them a hyper-step with the n-order
    hypergradient at the current w (:func:`hyperlab.bilevel.hypergrad.run_bilevel`). The
    pass ends with h_end (projected to the box) and f(h_end) = CE_val after T fresh steps
    with h_end held fixed: the online loss along the pass is not f of any single h.
    """
    outer_steps = max(spec.T // every, 1)

    @jax.jit
    def run(data, tree, w0, h):
        losses = make_losses(spec, data, tree)
        loss = scaled_train_loss(spec, losses)

        def hypergrad_fn(w, hh):
            return hg.unrolled_hypergrad(loss, _val(losses), w, hh, lr=1.0, order=order)

        rec = hg.run_bilevel(
            loss,
            _val(losses),
            hypergrad_fn,
            w0,
            h,
            outer_opt=optax.adam(outer_lr),
            inner_lr=1.0,
            inner_steps=every,
            outer_steps=outer_steps,
        )
        h_end = project(spec, rec.h[-1])
        return rec.h, h_end, objective(spec, data, tree, w0, h_end)

    cast(OnlinePass, run).cost = outer_steps * every + (outer_steps + 1) * order + spec.T
    return cast(OnlinePass, run)


def online_rounds(T: int, run: OnlinePass, f: Any, data, tree, w0, h0) -> Iterator[Round]:
    """f(h0) first (T steps; ``f`` the jitted objective), then passes, each restarting from w0
    at the h the last one ended with (``run`` returns ``(..., h_end, f(h_end))``)."""
    h = jnp.asarray(h0)
    yield Round(T, np.asarray(h), float(f(data, tree, w0, h)))
    while True:
        *_, h, value = run(data, tree, w0, h)
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
