"""The reverse engine: hypergradients of any inner step map along a stored or interpolated trajectory.

The inner run is ``T`` applications of a step map, ``s_{t+1} = Φ(s_t, h, t)`` for t = 0..T-1,
on a state s (the weights w; or (w, v) for SGD with momentum, :mod:`hyperlab.bilevel.drmad`).
The hypergradient of L_val(w_T) is the reverse pass of Maclaurin, Duvenaud & Adams 2015
(Alg. 2, here for any Φ):

    dw ← ∇L_val(w_T),  dh ← 0;   for t = T-1..0:  (dw, dh_t) ← (dw ∂Φ/∂w, dw ∂Φ/∂h) at (w_t, h, t),  dh += dh_t,

one ``jax.vjp`` of Φ per step. The positions w_t come from a trajectory oracle
(:class:`Checkpoints`): K + 1 stored iterates, linearly interpolated in between. K = T is
exact reverse mode; K = 1 is DrMAD (Fu et al. 2016, arXiv 1601.00917), the straight line
from w_0 to w_T.

**One engine, two adjoint rules.** :func:`reverse_pass` runs the guarded backward scan; what
one backward step does is its *rule*: the VJP of Φ above (the default), or, given a
:class:`Momentum`, Maclaurin et al.'s Alg. 2 for SGD with momentum, which also returns the
hypergradients of log α and γ and reads the velocities from the oracle
(:func:`_momentum_pass`; the step itself is :func:`hyperlab.bilevel.drmad.momentum_step`).
:func:`train`, :func:`train_checkpoints` and :func:`checkpointed_hypergrad` serve both.

**The divergence guard.** Along an approximate trajectory the Hessians are taken at the
wrong points; at a high learning rate the products (I − α H) then grow without bound
and the pass returns 10⁵-times-too-large numbers or NaN. The pass stops at the first step
whose adjoint is not finite or has grown more than ``max_growth`` (:data:`MAX_GROWTH`) times
∇L_val(w_T): what it returns is then the hypergradient through the last steps it reversed
(the truncated back-propagation of Shaban et al. 2019, arXiv 1810.10667), and it says how
many that was. Below the bound nothing changes. ``max_growth=None`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
StepMap = Callable[[Any, Any, Array], Any]  # (s_t, h, t) -> s_{t+1}
ValLoss = Callable[[Array], Array]

#: the reverse pass's divergence guard: the adjoint dw may grow at most this many times ∇L_val(w_T).
#: Exact reverse mode on the ``hpo`` MNIST problem grows it 1.05x at h0 and 3.6x at the learning rate
#: 1.26; an interpolated pass there grows it 10^3 (K = 8) to 10^8 (K = 4) and then overflows (K = 1).
MAX_GROWTH = 100.0


class Checkpoints(NamedTuple):
    """A trajectory oracle: iterates ``w`` (K + 1, *w.shape) stored at integer ``times`` 0 = s_0 < ... < s_K = T."""

    times: Array
    w: Array


class Reversed(NamedTuple):
    """A reverse pass's hypergradient and how many of the T steps it went back through."""

    grad: Any  # an array like h (or, with the momentum rule, a Hyper)
    steps: Array  # T: the whole pass; fewer: the guard stopped it there


class Momentum(NamedTuple):
    """The momentum rule's inputs (:func:`_momentum_pass`)."""

    train_loss: Callable[[Array, Array], Array]
    v0: Array | None = None  # the initial velocity (None: zero)
    v_T: Array | None = None  # the final velocity, for velocity="recurrence"
    velocity: str = "difference"  # "difference": v_t from the oracle; "recurrence": Alg. 2 as printed


def checkpoint_times(T: int, K: int) -> np.ndarray:
    """K + 1 integer times spread evenly over 0..T: s_k = round(k T / K); K = T gives every step."""
    if not 1 <= K <= T:
        raise ValueError(f"need 1 <= K <= T, got K={K}, T={T}")
    return np.rint(np.linspace(0, T, K + 1)).astype(np.int32)


def empty_checkpoints(w0: Array, K: int) -> Array:
    """The (K + 1, d) checkpoint buffer of a forward pass, w0 in row 0."""
    return jnp.zeros((K + 1,) + jnp.shape(w0), jnp.result_type(w0)).at[0].set(w0)


def keep_checkpoint(buf: Array, times: Array, t: Array, w: Array) -> Array:
    """``buf`` with w_t stored in its row when t is a checkpoint time (one O(d) row per step, not a copy)."""
    k = jnp.minimum(jnp.searchsorted(times, t), times.shape[0] - 1)
    return buf.at[k].set(jnp.where(times[k] == t, w, buf[k]))


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


def within_bound(new_adjoint: Array, new_grad: Array, bound: Array) -> Array:
    """The guard's test: every entry finite and the adjoint's norm at most ``bound``."""
    finite = jnp.all(jnp.isfinite(new_adjoint)) & jnp.all(jnp.isfinite(new_grad))
    return finite & (jnp.linalg.norm(jnp.ravel(new_adjoint)) <= bound)


def _weights(state: Any) -> Array:
    """The weights of a state: the state itself, or its ``w`` (SGD with momentum's (w, v))."""
    return getattr(state, "w", state)


def train(step: StepMap, s0: Any, h: Any, T: int) -> Any:
    """s_T: T applications of the step map from s0 (only the current state is kept)."""

    def body(s, t):
        return step(s, h, t), None

    s, _ = jax.lax.scan(body, s0, jnp.arange(T, dtype=jnp.int32))
    return s


def train_checkpoints(step: StepMap, s0: Any, h: Any, T: int, K: int) -> tuple[Checkpoints, Any]:
    """The forward pass keeping K + 1 evenly spread weight iterates (K = T: the whole trajectory), and s_T."""
    times = jnp.asarray(checkpoint_times(T, K))

    def body(carry, t):
        s, buf = carry
        s = step(s, h, t)  # s_{t+1}
        return (s, keep_checkpoint(buf, times, t + 1, _weights(s))), None

    (s, buf), _ = jax.lax.scan(body, (s0, empty_checkpoints(_weights(s0), K)), jnp.arange(T, dtype=jnp.int32))
    return Checkpoints(times, buf), s


def guarded_scan(rule: Callable, init: Any, times: Array) -> tuple[Any, Array]:
    """Run ``rule(carry, t) -> (new carry, whether it passed the guard)`` over ``times``, keeping the last carry
    that passed (every later one is dropped); returns it and how many steps passed."""

    def body(c, t):
        carry, alive, steps = c
        new, ok = rule(carry, t)
        ok = alive & ok
        kept = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, carry)
        return (kept, ok, steps + ok.astype(jnp.int32)), None

    (carry, _, steps), _ = jax.lax.scan(body, (init, jnp.asarray(True), jnp.zeros((), jnp.int32)), times)
    return carry, steps


def _bound(dw: Array, max_growth: float | None) -> Array:
    return jnp.asarray(jnp.inf) if max_growth is None else max_growth * jnp.linalg.norm(jnp.ravel(dw))


def reverse_pass(
    step: StepMap,
    val_loss: ValLoss,
    h: Any,
    ckpt: Checkpoints,
    T: int,
    max_growth: float | None = MAX_GROWTH,
    momentum: Momentum | None = None,
) -> Reversed:
    """dL_val(w_T)/dh by the reverse pass along the oracle ``ckpt``, guarded (module docstring).

    ``momentum``: Alg. 2 of SGD with momentum instead of the VJP of ``step`` (``h`` is then a
    :class:`hyperlab.bilevel.drmad.Hyper`, and so is the gradient).
    """
    if momentum is not None:
        return _momentum_pass(momentum, val_loss, h, ckpt, T, max_growth)
    dw = jax.grad(val_loss)(position(ckpt, T))
    bound = _bound(dw, max_growth)

    def rule(carry, t):
        dw, dh = carry
        _, vjp = jax.vjp(lambda w, hh: step(w, hh, t), position(ckpt, t), h)
        new_dw, dh_t = vjp(dw)
        new_dh = dh + dh_t
        return (new_dw, new_dh), within_bound(new_dw, new_dh, bound)

    (_, dh), steps = guarded_scan(rule, (dw, jnp.zeros_like(h)), jnp.arange(T - 1, -1, -1, dtype=jnp.int32))
    return Reversed(dh, steps)


def _momentum_pass(
    m: Momentum, val_loss: ValLoss, hyper: Any, ckpt: Checkpoints, T: int, max_growth: float | None
) -> Reversed:
    """Maclaurin et al. 2015, Alg. 2 (SGD with momentum) along the oracle, guarded; ``hyper`` a ``Hyper``.

    With dw = ∇L_val(w_T), dv = 0, dh = 0, for t = T..1 (docs/REFERENCES.md §3):
    dα_t = dw·v_t; read w_{t-1}, g = ∇_w L_train(w_{t-1}, h), v_{t-1}; dv += α dw;
    dγ_t = dv·(v_{t-1} + g); dw −= (1 − γ) ∇²_w L_train·dv; dh −= (1 − γ) ∇_h∇_w L_train·dv; dv ← γ dv.
    The gradient is ``Hyper(dL/dh, dL/dlog α = α Σ dα_t, dL/dγ = Σ dγ_t)``.

    ``velocity="difference"``: v_t = (w_t − w_{t-1}) / α from the oracle (v_0 given);
    ``"recurrence"``: v_{t-1} = (v_t + (1 − γ) g) / γ from the final ``v_T`` (Alg. 2 as printed;
    errors grow as γ^{-T}, see :mod:`hyperlab.bilevel.drmad`).
    """
    if m.velocity not in ("difference", "recurrence"):
        raise ValueError(f"velocity: got {m.velocity!r}; allowed: difference, recurrence")
    if m.velocity == "recurrence" and m.v_T is None:
        raise ValueError("velocity='recurrence' needs the final velocity v_T")
    alpha, gamma = jnp.exp(hyper.log_lr), hyper.momentum
    w_T, w_T_minus_1 = position(ckpt, T), position(ckpt, T - 1)
    v0 = jnp.zeros_like(w_T) if m.v0 is None else m.v0
    grad_w = jax.grad(m.train_loss)
    v_last = m.v_T if m.velocity == "recurrence" else (w_T - w_T_minus_1) / alpha
    dw_T = jax.grad(val_loss)(w_T)
    bound = _bound(dw_T, max_growth)

    def rule(old, t):
        w_t, w_prev, v_t, dw, dv, dh, d_alpha, d_gamma = old
        d_alpha = d_alpha + jnp.vdot(dw, v_t)
        # One vjp of ∇_w L_train at (w_{t-1}, h) gives g and both second-order products.
        g, hvp = jax.vjp(grad_w, w_prev, hyper.h)
        w_prev2 = position(ckpt, jnp.maximum(t - 2, 0))
        if m.velocity == "recurrence":
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
        return new, within_bound(dw, jnp.concatenate([jnp.ravel(dh), jnp.stack([d_alpha, d_gamma])]), bound)

    zero = jnp.zeros((), w_T.dtype)
    init = (w_T, w_T_minus_1, v_last, dw_T, jnp.zeros_like(w_T), jnp.zeros_like(hyper.h), zero, zero)
    carry, steps = guarded_scan(rule, init, jnp.arange(T, 0, -1, dtype=jnp.int32))
    *_, dh, d_alpha, d_gamma = carry
    return Reversed(type(hyper)(dh, alpha * d_alpha, d_gamma), steps)


def checkpointed_hypergrad(
    step: StepMap,
    val_loss: ValLoss,
    s0: Any,
    h: Any,
    T: int,
    K: int,
    max_growth: float | None = MAX_GROWTH,
    momentum: Momentum | None = None,
) -> tuple[Array, Reversed]:
    """(L_val(w_T), the guarded reverse pass along the K-piece linearization); K = 1 is DrMAD."""
    ckpt, final = train_checkpoints(step, s0, h, T, K)
    if momentum is not None and momentum.velocity == "recurrence":
        momentum = momentum._replace(v_T=final.v)
    return val_loss(_weights(final)), reverse_pass(step, val_loss, h, ckpt, T, max_growth, momentum)


def exact_hypergrad(step: StepMap, val_loss: ValLoss, w0: Array, h: Array, T: int) -> tuple[Array, Array]:
    """(L_val(w_T), dL_val/dh) by ``jax.grad`` through the scan: the reference (memory T + 1 iterates)."""
    return jax.value_and_grad(lambda hh: val_loss(_weights(train(step, w0, hh, T))))(h)


def lookahead_hypergrad(
    step: StepMap, val_loss: ValLoss, w: Array, h: Array, t0: Array, order: int
) -> tuple[Array, Array]:
    """The n-order hypergradient at w_{t0}: d/dh L_val after ``order`` more steps t0..t0+n-1 from w
    (w held constant; the online methods' greedy approximation, Franceschi et al. 2017)."""

    def after(hh):
        def body(v, i):
            return step(v, hh, t0 + i), None

        v, _ = jax.lax.scan(body, jax.lax.stop_gradient(w), jnp.arange(order, dtype=jnp.int32))
        return val_loss(v)

    return jax.value_and_grad(after)(h)
