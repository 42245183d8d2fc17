"""One cost accounting for every HPO method: what a round runs, in one unit a reader can check.

A round (an outer step, an online pass, a search trial) is charged three counts:

* ``forward``: applications of the step map Φ(w, h, t) -- inner gradient steps, the unit of the
  step budget (``step_budget``);
* ``reverse``: reverse steps -- one VJP of Φ each (a Hessian-vector product of L_train plus its
  cross term with h), as the reverse passes of exact reverse mode, K-piece / DrMAD and the
  online look-aheads run them;
* ``cg``: conjugate-gradient products -- one Hessian-vector product of L_train each (IFT).

Per method and round (T inner steps, K pieces, n look-ahead steps, a hyper-step every e steps,
m = max(T // e, 1) hyper-steps per pass; :func:`round_cost`):

=============  ====================  =================  ============
method         forward               reverse            cg
=============  ====================  =================  ============
search trial   T                     0                  0
exact          T                     T                  0
kpiece, drmad  T                     T                  0
ift            T                     1 (cross term)     cg_maxiter
online<n>      m (e + n) + T         m n                0
hypernet       every · batch + T     0                  0
=============  ====================  =================  ============

The guarded reverse pass (:mod:`hyperlab.bilevel.reverse`) computes all T steps even when its
guard keeps fewer, and conjugate gradients run ``cg_maxiter`` products at the float32
tolerance they are given, so the counts are what runs, not an upper bound.

:func:`measure` converts the counts into forward-step equivalents from XLA's cost analysis of
the compiled single-step programs (a loop body is counted once by the analysis, so each
program is one step): one reverse step costs ``Unit.reverse`` forward steps, one CG product
``Unit.cg``. :func:`equivalents` applies the conversion.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Cost(NamedTuple):
    """The work of a round (or of a run, summed): forward steps, reverse steps, CG products."""

    forward: int
    reverse: int = 0
    cg: int = 0


class Unit(NamedTuple):
    """Forward-step equivalents of one reverse step and of one CG product (measured, :func:`measure`)."""

    reverse: float
    cg: float
    forward_flops: float  # XLA's FLOP count of one forward step, the unit itself


def total(costs) -> Cost:
    """The sum of several costs (a run's rounds)."""
    fwd = rev = cg = 0
    for c in costs:
        fwd, rev, cg = fwd + c.forward, rev + c.reverse, cg + c.cg
    return Cost(fwd, rev, cg)


def evaluation(T: int) -> Cost:
    """One evaluation of f(h): T forward steps."""
    return Cost(T)


def online(T: int, order: int, every: int) -> Cost:
    """One online pass: m hyper-steps, each n look-ahead steps forward and back plus ``every`` inner steps,
    then T steps to evaluate f(h_end)."""
    m = max(T // every, 1)
    return Cost(m * (every + order) + T, m * order)


def round_cost(method: str, T: int, cg_maxiter: int) -> Cost:
    """The cost of one outer step of a descent method (``exact``, ``kpiece``, ``drmad``, ``ift``): every K
    reverses all T steps along its interpolated trajectory."""
    if method in ("exact", "kpiece", "drmad"):
        return Cost(T, T)
    if method == "ift":
        return Cost(T, 1, cg_maxiter)
    raise ValueError(f"no descent cost for {method!r}; allowed: exact, kpiece, drmad, ift")


def equivalents(c: Cost, unit: Unit) -> float:
    """A cost in forward-step equivalents."""
    return c.forward + unit.reverse * c.reverse + unit.cg * c.cg


def _flops(fn, *args) -> float:
    analysis: Any = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):  # older JAX: one dict per program
        analysis = analysis[0]
    return float(analysis["flops"])


def measure(step, train_loss, w: jax.Array, h: jax.Array) -> Unit:
    """The conversion, from XLA's FLOP counts of three single-step programs at (w, h): a forward step
    Φ(w, h, 0), a reverse step (the VJP of Φ the reverse passes run, its linearization included), and
    a CG product (a Hessian-vector product of L_train, as conjugate gradients run it)."""
    t = jnp.asarray(0, jnp.int32)

    def backward(w, h, dw):
        _, vjp = jax.vjp(lambda ww, hh: step(ww, hh, t), w, h)
        return vjp(dw)

    def hvp(w, h, v):
        return jax.jvp(lambda ww: jax.grad(train_loss)(ww, h), (w,), (v,))[1]

    fwd = _flops(lambda w, h: step(w, h, t), w, h)
    return Unit(_flops(backward, w, h, w) / fwd, _flops(hvp, w, h, w) / fwd, fwd)
