"""Hypergradients through SGD with momentum: exact reverse mode, Maclaurin's reverse pass, DrMAD.

Inner training (Maclaurin, Duvenaud & Adams 2015, Alg. 1; docs/REFERENCES.md §3), for t = 1..T:

    v_t = γ v_{t-1} - (1 - γ) ∇_w L_train(w_{t-1}, h),      w_t = w_{t-1} + α v_t.

The hypergradient of L_val(w_T) with respect to the hyperparameters ``Hyper(h, log α, γ)``
is computed three ways:

* :func:`autodiff_hypergrad`: ``jax.grad`` through the ``lax.scan`` of the forward pass.
  JAX stores the trajectory (memory O(T)); the reference.
* :func:`reverse_pass`: Maclaurin et al.'s Alg. 2 written out, with the Hessian-vector
  products ∇²_w L_train·dv and ∇_h∇_w L_train·dv from one ``jax.vjp`` of ∇_w L_train.
  The positions w_t it visits come from a trajectory *oracle*, :class:`Checkpoints`:
  K + 1 stored iterates, linearly interpolated in between. K = T is the exact
  trajectory (T + 1 vectors); K = 1 is DrMAD (Fu et al. 2016, arXiv 1601.00917, §3):
  the straight line w_t ≈ (1 - t/T) w_0 + (t/T) w_T, two vectors whatever T.
* :func:`checkpointed_hypergrad`: forward pass that keeps only the K + 1 checkpoints,
  then :func:`reverse_pass`.

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
import numpy as np
import optax

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


class Checkpoints(NamedTuple):
    """A trajectory oracle: iterates ``w`` (K + 1, *w.shape) stored at integer ``times`` 0 = s_0 < ... < s_K = T."""

    times: Array
    w: Array


def _lr(hyper: Hyper) -> Array:
    return jnp.exp(hyper.log_lr)


def sgd_momentum_step(train_loss: TrainLoss, hyper: Hyper, state: InnerState) -> InnerState:
    """One step of Maclaurin et al. 2015, Alg. 1: v ← γ v − (1 − γ) ∇_w L_train, w ← w + α v."""
    g = jax.grad(train_loss)(state.w, hyper.h)
    v = hyper.momentum * state.v - (1.0 - hyper.momentum) * g
    return InnerState(state.w + _lr(hyper) * v, v)


def _zeros_like(w0: Array, v0: Array | None) -> Array:
    return jnp.zeros_like(w0) if v0 is None else v0


def train(train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None) -> InnerState:
    """(w_T, v_T) after T steps; nothing but the current state is kept."""

    def body(state, _):
        return sgd_momentum_step(train_loss, hyper, state), None

    state, _ = jax.lax.scan(body, InnerState(w0, _zeros_like(w0, v0)), None, length=T)
    return state


def trajectory(train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None) -> Array:
    """All iterates w_0..w_T stacked, shape (T + 1, *w0.shape) (for figures and tests)."""

    def body(state, _):
        state = sgd_momentum_step(train_loss, hyper, state)
        return state, state.w

    _, ws = jax.lax.scan(body, InnerState(w0, _zeros_like(w0, v0)), None, length=T)
    return jnp.concatenate([w0[None], ws])


def checkpoint_times(T: int, K: int) -> np.ndarray:
    """K + 1 integer times spread evenly over 0..T: s_k = round(k T / K); K = T gives every step."""
    if not 1 <= K <= T:
        raise ValueError(f"need 1 <= K <= T, got K={K}, T={T}")
    return np.rint(np.linspace(0, T, K + 1)).astype(np.int32)


def empty_checkpoints(w0: Array, K: int) -> Array:
    """The (K + 1, d) checkpoint buffer of a forward pass, w0 in row 0."""
    return jnp.zeros((K + 1,) + jnp.shape(w0), jnp.result_type(w0)).at[0].set(w0)


def keep_checkpoint(buf: Array, times: Array, t: Array, w: Array) -> Array:
    """``buf`` with w_t stored in its row when t is a checkpoint time.

    Writes one O(d) row per step (not a masked copy of the whole buffer).
    """
    k = jnp.minimum(jnp.searchsorted(times, t), times.shape[0] - 1)
    return buf.at[k].set(jnp.where(times[k] == t, w, buf[k]))


def train_checkpoints(
    train_loss: TrainLoss, w0: Array, hyper: Hyper, T: int, K: int, v0: Array | None = None
) -> tuple[Checkpoints, InnerState]:
    """Forward pass that stores only the K + 1 checkpoints (memory (K + 1) vectors, not T + 1).

    Returns the checkpoints and the final state (w_T, v_T).
    """
    times, buf = jnp.asarray(checkpoint_times(T, K)), empty_checkpoints(w0, K)

    def body(carry, t):
        state, buf = carry
        state = sgd_momentum_step(train_loss, hyper, state)
        return (state, keep_checkpoint(buf, times, t, state.w)), None

    (state, buf), _ = jax.lax.scan(
        body, (InnerState(w0, _zeros_like(w0, v0)), buf), jnp.arange(1, T + 1, dtype=jnp.int32)
    )
    return Checkpoints(times, buf), state


def position(ckpt: Checkpoints, t: Array | int) -> Array:
    """w_t read from the oracle: linear interpolation between the neighbouring checkpoints.

    Written as (1 − λ) c_k + λ c_{k+1} so that a checkpoint itself (λ = 0, or λ = 1 at t = T)
    is returned bit for bit: with K = T the oracle is the exact stored trajectory.
    """
    K = ckpt.times.shape[0] - 1
    k = jnp.clip(jnp.searchsorted(ckpt.times, t, side="right") - 1, 0, K - 1)
    s0, s1 = ckpt.times[k], ckpt.times[k + 1]
    lam = ((t - s0) / (s1 - s0)).astype(ckpt.w.dtype)
    return (1 - lam) * ckpt.w[k] + lam * ckpt.w[k + 1]


def interpolated_trajectory(ckpt: Checkpoints, T: int) -> Array:
    """The oracle's whole path w_0..w_T, shape (T + 1, ...) (for figures)."""
    return jax.vmap(lambda t: position(ckpt, t))(jnp.arange(T + 1))


#: the reverse pass's divergence guard: the adjoint dw may grow at most this many times ∇L_val(w_T).
#: Exact reverse mode on the ``hpo`` MNIST problem grows it 1.05x at h0 and 3.6x at the learning rate
#: 1.26; an interpolated pass there grows it 10^3 (K = 8) to 10^8 (K = 4) and then overflows (K = 1).
MAX_GROWTH = 100.0


def within_bound(new_adjoint: Array, new_grad: Array, bound: Array) -> Array:
    """The guard's test: every entry finite and the adjoint's norm at most ``bound``."""
    finite = jnp.all(jnp.isfinite(new_adjoint)) & jnp.all(jnp.isfinite(new_grad))
    return finite & (jnp.linalg.norm(jnp.ravel(new_adjoint)) <= bound)


def reverse_pass(
    train_loss: TrainLoss,
    val_loss: ValLoss,
    hyper: Hyper,
    ckpt: Checkpoints,
    T: int,
    v0: Array | None = None,
    v_T: Array | None = None,
    velocity: str = "difference",
    max_growth: float | None = MAX_GROWTH,
) -> Hyper:
    """Hypergradient of L_val(w_T) by Maclaurin et al. 2015, Alg. 2, along the oracle ``ckpt``.

    With dw = ∇L_val(w_T), dv = 0, dh = 0, for t = T..1 (docs/REFERENCES.md §3):
    dα_t = dw·v_t; read w_{t-1}, g = ∇_w L_train(w_{t-1}, h), v_{t-1}; dv += α dw;
    dγ_t = dv·(v_{t-1} + g); dw −= (1 − γ) ∇²_w L_train·dv; dh −= (1 − γ) ∇_h∇_w L_train·dv; dv ← γ dv.
    Returns ``Hyper(dL/dh, dL/dlog α = α Σ dα_t, dL/dγ = Σ dγ_t)``.

    ``velocity="difference"``: v_t = (w_t − w_{t-1}) / α from the oracle (v_0 given);
    ``"recurrence"``: v_{t-1} = (v_t + (1 − γ) g) / γ from the stored ``v_T`` (Alg. 2 as printed;
    unstable, see the module docstring).

    The guard: the pass stops at the first step whose adjoints are not finite or whose dw has
    grown past ``max_growth`` × |∇L_val(w_T)| (an approximate trajectory at a high learning
    rate: the Hessians at the wrong points multiply the error every step). What it returns
    is then the hypergradient through the steps it reversed, the truncated back-propagation
    of Shaban et al. 2019 (arXiv 1810.10667). ``max_growth=None`` turns the guard off.
    """
    if velocity not in ("difference", "recurrence"):
        raise ValueError(f"velocity: got {velocity!r}; allowed: difference, recurrence")
    if velocity == "recurrence" and v_T is None:
        raise ValueError("velocity='recurrence' needs the final velocity v_T")
    alpha, gamma = _lr(hyper), hyper.momentum
    w_T = position(ckpt, T)
    v0 = _zeros_like(w_T, v0)
    grad_w = jax.grad(train_loss)
    w_T_minus_1 = position(ckpt, T - 1)
    v_last = v_T if velocity == "recurrence" else (w_T - w_T_minus_1) / alpha

    dw_T = jax.grad(val_loss)(w_T)
    bound = jnp.asarray(jnp.inf) if max_growth is None else max_growth * jnp.linalg.norm(jnp.ravel(dw_T))

    def body(carry, t):
        old, alive = carry
        w_t, w_prev, v_t, dw, dv, dh, d_alpha, d_gamma = old
        d_alpha = d_alpha + jnp.vdot(dw, v_t)
        # One vjp of ∇_w L_train at (w_{t-1}, h) gives g and both second-order products.
        g, hvp = jax.vjp(grad_w, w_prev, hyper.h)
        w_prev2 = position(ckpt, jnp.maximum(t - 2, 0))
        if velocity == "recurrence":
            v_prev = (v_t + (1.0 - gamma) * g) / gamma
        else:
            v_prev = jnp.where(t >= 2, (w_prev - w_prev2) / alpha, v0)
        dv = dv + alpha * dw
        d_gamma = d_gamma + jnp.vdot(dv, v_prev + g)
        h_dv, cross_dv = hvp(dv)
        dw = dw - (1.0 - gamma) * h_dv
        dh = dh - (1.0 - gamma) * cross_dv
        dv = gamma * dv
        new = (w_prev, w_prev2, v_prev, dw, dv, dh, d_alpha, d_gamma)
        ok = alive & within_bound(dw, jnp.concatenate([jnp.ravel(dh), jnp.stack([d_alpha, d_gamma])]), bound)
        return (jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old), ok), None

    zero = jnp.zeros((), w_T.dtype)
    init = (w_T, w_T_minus_1, v_last, dw_T, jnp.zeros_like(w_T), jnp.zeros_like(hyper.h), zero, zero)
    (carry, _), _ = jax.lax.scan(body, (init, jnp.asarray(True)), jnp.arange(T, 0, -1, dtype=jnp.int32))
    *_, dh, d_alpha, d_gamma = carry
    return Hyper(dh, alpha * d_alpha, d_gamma)


def autodiff_hypergrad(
    train_loss: TrainLoss, val_loss: ValLoss, w0: Array, hyper: Hyper, T: int, v0: Array | None = None
) -> tuple[Array, Array, Hyper]:
    """(L_val(w_T), w_T, hypergradient) by ``jax.grad`` through the scan: exact, memory O(T)."""

    def objective(hyper):
        w_T = train(train_loss, w0, hyper, T, v0).w
        return val_loss(w_T), w_T

    (loss, w_T), grads = jax.value_and_grad(objective, has_aux=True)(hyper)
    return loss, w_T, grads


def checkpointed_hypergrad(
    train_loss: TrainLoss,
    val_loss: ValLoss,
    w0: Array,
    hyper: Hyper,
    T: int,
    K: int,
    v0: Array | None = None,
    velocity: str = "difference",
    max_growth: float | None = MAX_GROWTH,
) -> tuple[Array, Array, Hyper]:
    """(L_val(w_T), w_T, hypergradient) by the guarded reverse pass along K-piece linearization (K = 1: DrMAD)."""
    ckpt, final = train_checkpoints(train_loss, w0, hyper, T, K, v0)
    grads = reverse_pass(train_loss, val_loss, hyper, ckpt, T, v0, final.v, velocity, max_growth)
    return val_loss(final.w), final.w, grads


def hypergrad_fn(
    train_loss: TrainLoss,
    val_loss: ValLoss,
    T: int,
    K: int | None,
    velocity: str = "difference",
    max_growth: float | None = MAX_GROWTH,
) -> Callable[[Array, Hyper], tuple[Array, Array, Hyper]]:
    """``(w0, hyper) -> (L_val, w_T, grads)``: exact reverse mode if ``K`` is None, else K pieces."""
    if K is None:
        return partial(autodiff_hypergrad, train_loss, val_loss, T=T)
    return partial(checkpointed_hypergrad, train_loss, val_loss, T=T, K=K, velocity=velocity, max_growth=max_growth)


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
    params = {"h": hyper0.h, "log_lr": hyper0.log_lr}

    def body(carry, _):
        params, opt_state = carry
        hyper = Hyper(params["h"], params["log_lr"], hyper0.momentum)
        loss, w_T, g = hypergrad(w0, hyper)
        updates, opt_state = optimizer.update(
            {"h": g.h, "log_lr": g.log_lr if tune_lr else jnp.zeros_like(g.log_lr)}, opt_state, params
        )
        row = OuterTrace(params["h"], params["log_lr"], w_T, loss, g)
        return (optax.apply_updates(params, updates), opt_state), row

    _, trace = jax.lax.scan(body, (params, optimizer.init(params)), None, length=steps + 1)
    return trace


def quartic_train_loss(w: Array, h: Array, coef: float) -> Array:
    """A non-quadratic toy: |h + w|² + coef Σ (h + w)⁴. Same best response w*(h) = −h, but the
    Hessians ∇²_w L and ∇_h∇_w L now depend on where the trajectory passes."""
    u = h + w
    return jnp.sum(u**2) + coef * jnp.sum(u**4)
