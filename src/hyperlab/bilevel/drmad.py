"""Hypergradients through SGD with momentum: exact reverse mode, Maclaurin's reverse pass, DrMAD.

Inner training (Maclaurin, Duvenaud & Adams 2015, Alg. 1; docs/REFERENCES.md §3), for t = 1..T:

    v_t = γ v_{t-1} - (1 - γ) ∇_w L_train(w_{t-1}, h),      w_t = w_{t-1} + α v_t.

The hypergradient of L_val(w_T) with respect to the hyperparameters ``Hyper(h, log α, γ)``
is computed three ways:

* :func:`autodiff_hypergrad`: ``jax.grad`` through the ``lax.scan`` of the forward pass.
  JAX stores the trajectory (memory O(T)); the reference.
* :func:`checkpointed_momentum_hypergrad`: the reverse engine (:mod:`hyperlab.bilevel.reverse`)
  on the momentum step (:func:`momentum_step`, state (w, v)): a forward pass that keeps only
  K + 1 checkpoints, then Maclaurin et al.'s Alg. 2 written out (the engine's momentum rule),
  with the Hessian-vector products ∇²_w L_train·dv and ∇_h∇_w L_train·dv from one ``jax.vjp``
  of ∇_w L_train. The positions w_t it visits come from the engine's trajectory *oracle*,
  :class:`hyperlab.bilevel.reverse.Checkpoints`: K + 1 stored iterates, linearly interpolated
  in between. K = T is the exact trajectory (T + 1 vectors); K = 1 is DrMAD (Fu et al. 2016,
  arXiv 1601.00917, §3): the straight line w_t ≈ (1 - t/T) w_0 + (t/T) w_T, two vectors whatever T.

Velocities. Alg. 2 recovers v_{t-1} = (v_t + (1 - γ) g_t) / γ. Any error in v_t (from
an approximate trajectory, or float rounding) is multiplied by 1/γ at every step,
γ^{-T} ≈ 10^{4.6} for γ = 0.9 and T = 100: Maclaurin needed exact fixed-point
arithmetic for it. Along an approximate trajectory we therefore read the velocity
from the same oracle as the positions, v_t = (w_t - w_{t-1}) / α (for DrMAD the
constant velocity of the straight line), which is also what DrMAD's published code
does (``sgd4_mad``: "recover velocity"). ``velocity="recurrence"`` keeps Alg. 2's
literal recurrence for comparison.

Everything here is generic: ``train_loss(w, h)`` and ``val_loss(w)`` over arrays of
any shape (``h`` may have another shape than ``w``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hyperlab.bilevel import reverse

Array = jax.Array
TrainLoss = Callable[[Array, Array], Array]
ValLoss = Callable[[Array], Array]


class Hyper(NamedTuple):
    """Hyperparameters of the inner run (and, with the same structure, their hypergradients)."""

    h: Array
    log_lr: Array  # log α: the learning rate is optimized on a log scale, where it stays positive
    momentum: Array  # γ in (0, 1)


class InnerState(NamedTuple):
    w: Array
    v: Array


class Settings(NamedTuple):
    """How the checkpointed momentum pass runs (:func:`checkpointed_momentum_hypergrad`)."""

    v0: Array | None = None  # the initial velocity (None: zero)
    velocity: str = "difference"  # "difference": v_t from the oracle; "recurrence": Alg. 2 as printed
    max_growth: float | None = reverse.MAX_GROWTH  # the guard (None: off)


DEFAULT = Settings()


def _lr(hyper: Hyper) -> Array:
    return jnp.exp(hyper.log_lr)


def sgd_momentum_step(train_loss: TrainLoss, hyper: Hyper, state: InnerState) -> InnerState:
    """One step of Maclaurin et al. 2015, Alg. 1: v ← γ v − (1 − γ) ∇_w L_train, w ← w + α v."""
    g = jax.grad(train_loss)(state.w, hyper.h)
    v = hyper.momentum * state.v - (1.0 - hyper.momentum) * g
    return InnerState(state.w + _lr(hyper) * v, v)


def _zeros_like(w0: Array, v0: Array | None) -> Array:
    return jnp.zeros_like(w0) if v0 is None else v0


def momentum_step(train_loss: TrainLoss) -> reverse.StepMap:
    """:func:`sgd_momentum_step` as a step map of the reverse engine: state (w, v), hyperparameters ``Hyper``."""
    return lambda state, hyper, t: sgd_momentum_step(train_loss, hyper, state)


def momentum_train(train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None) -> InnerState:
    """(w_T, v_T) after T steps (:func:`hyperlab.bilevel.reverse.train` of the momentum step)."""
    return reverse.train(momentum_step(train_loss), InnerState(w0, _zeros_like(w0, v0)), hyper, T)


def momentum_checkpoints(
    train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, K: int
) -> tuple[reverse.Checkpoints, InnerState]:
    """The engine's checkpointed forward pass of the momentum step from (w0, v = 0): K + 1 iterates, and (w_T, v_T)."""
    return reverse.train_checkpoints(momentum_step(train_loss), InnerState(w0, jnp.zeros_like(w0)), hyper, T, K)


def trajectory(train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None) -> Array:
    """All iterates w_0..w_T stacked, shape (T + 1, *w0.shape) (for figures and tests)."""

    def body(state, _):
        state = sgd_momentum_step(train_loss, hyper, state)
        return state, state.w

    _, ws = jax.lax.scan(body, InnerState(w0, _zeros_like(w0, v0)), None, length=T)
    return jnp.concatenate([w0[None], ws])


def autodiff_hypergrad(
    train_loss: TrainLoss, val_loss: ValLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None
) -> tuple[Array, Array, Hyper]:
    """(L_val(w_T), w_T, hypergradient) by ``jax.grad`` through the scan: exact, memory O(T)."""

    def objective(hyper):
        w_T = momentum_train(train_loss, w0, hyper, T, v0).w
        return val_loss(w_T), w_T

    (loss, w_T), grads = jax.value_and_grad(objective, has_aux=True)(hyper)
    return loss, w_T, grads


def checkpointed_momentum_hypergrad(
    train_loss: TrainLoss, val_loss: ValLoss, w0: Array, hyper: Hyper, T: int, K: int, settings: Settings = DEFAULT
) -> tuple[Array, Array, Hyper]:
    """(L_val(w_T), w_T, hypergradient) by the reverse engine's guarded momentum pass along the K-piece
    linearization (K = 1: DrMAD): :func:`hyperlab.bilevel.reverse.train_checkpoints`, then
    :func:`hyperlab.bilevel.reverse.reverse_pass` with its momentum rule."""
    state0 = InnerState(w0, _zeros_like(w0, settings.v0))
    ckpt, final = reverse.train_checkpoints(momentum_step(train_loss), state0, hyper, T, K)
    rule = reverse.Momentum(train_loss, settings.v0, final.v, settings.velocity)
    rev = reverse.reverse_pass(momentum_step(train_loss), val_loss, hyper, ckpt, T, settings.max_growth, rule)
    return val_loss(final.w), final.w, rev.grad


def hypergrad_fn(
    train_loss: TrainLoss, val_loss: ValLoss, T: int, K: int | None, settings: Settings = DEFAULT
) -> Callable[[Array, Hyper], tuple[Array, Array, Hyper]]:
    """``(w0, hyper) -> (L_val, w_T, grads)``: exact reverse mode if ``K`` is None, else K pieces."""
    if K is None:
        return partial(autodiff_hypergrad, train_loss, val_loss, T=T)
    return partial(checkpointed_momentum_hypergrad, train_loss, val_loss, T=T, K=K, settings=settings)


def relative_error(approx: Hyper, exact: Hyper) -> dict[str, float]:
    """|g − g*| / |g*| per hyperparameter (0 when both vanish)."""
    out = {}
    for name, a, b in zip(Hyper._fields, approx, exact):
        num, den = float(jnp.linalg.norm(jnp.ravel(a - b))), float(jnp.linalg.norm(jnp.ravel(b)))
        out[name] = num / den if den > 0 else (0.0 if num == 0 else float("inf"))
    return out


def stored_vectors(T: int, K: int | None) -> int:
    """Trajectory vectors the reverse pass keeps: K + 1 checkpoints; T + 1 for exact reverse mode."""
    return T + 1 if K is None else K + 1


# --------------------------------------------------------------------------- outer loop


class OuterTrace(NamedTuple):
    """One row per outer step (before its update): hyperparameters, inner result, hypergradient."""

    h: Array
    log_lr: Array
    w_T: Array
    val_loss: Array
    grad: Hyper


def outer_loop(
    hypergrad: Callable[[Array, Hyper], tuple[Array, Array, Hyper]],
    w0: Array,
    hyper0: Hyper,
    steps: int,
    optimizer: optax.GradientTransformation,
    tune_lr: bool,
) -> OuterTrace:
    """Optimize h (and log α when ``tune_lr``) with ``optimizer`` on the given hypergradient.

    Every outer step reruns the inner training from the same w_0 (as Maclaurin et al. and
    DrMAD do), so each row is a point (h, w_T(h)) of the outer trajectory. Returns
    ``steps + 1`` rows: the start and the state after each of the ``steps`` updates.
    The momentum γ is held fixed (its hypergradient is still reported).
    """
    tuned = {"h": hyper0.h, "log_lr": hyper0.log_lr}  # what the optimizer moves, as an optax pytree

    def body(carry, _):
        tuned, opt_state = carry
        hyper = Hyper(tuned["h"], tuned["log_lr"], hyper0.momentum)
        loss, w_T, g = hypergrad(w0, hyper)
        updates, opt_state = optimizer.update(
            {"h": g.h, "log_lr": g.log_lr if tune_lr else jnp.zeros_like(g.log_lr)}, opt_state, tuned
        )
        row = OuterTrace(tuned["h"], tuned["log_lr"], w_T, loss, g)
        return (optax.apply_updates(tuned, updates), opt_state), row

    _, trace = jax.lax.scan(body, (tuned, optimizer.init(tuned)), None, length=steps + 1)
    return trace


def quartic_train_loss(w: Array, h: Array, coef: float) -> Array:
    """A non-quadratic toy: |h + w|² + coef Σ (h + w)⁴. Same best response w*(h) = −h, but the
    Hessians ∇²_w L and ∇_h∇_w L now depend on where the trajectory passes."""
    u = h + w
    return jnp.sum(u**2) + coef * jnp.sum(u**4)
