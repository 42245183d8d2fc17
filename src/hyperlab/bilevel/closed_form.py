"""Closed forms of the n-order hypergradient and of the outer dynamics on the toy problem.

L_train = |h + w|^2, L_val = |w|^2, inner gradient descent with step eta:

    w <- w - 2 eta (w + h) = a w - (1 - a) h,          a = 1 - 2 eta.

After n steps from w (geometric sum, 2 eta (1 + a + ... + a^(n-1)) = 1 - a^n):

    w_n(h) = a^n w - b_n h,                            b_n = 1 - a^n,

so dw_n/dh = -b_n I and the n-order hypergradient is

    g_n(w, h) = 2 (dw_n/dh)^T w_n = 2 b_n^2 h - 2 b_n a^n w.                (*)

* n = 0: b_0 = 0, g_0 = 0 for every (w, h): h never moves.
* n -> inf (|a| < 1): b_n -> 1, g_n -> 2h = d/dh |w*(h)|^2, the exact
  hypergradient (w*(h) = -h).
* On the best-response line w = -h: g_n = 2 b_n h = b_n * exact, so the order
  scales the effective hyper step: plain SGD with step alpha takes
  h <- (1 - 2 alpha b_n) h, the exact step shrunk by b_n = 1 - (1 - 2 eta)^n.
* Off that line the second term of (*) is a bias of weight a^n: for small n it
  can point the wrong way (w0 = h0 = 1, eta = 0.1: g_1 = -0.24 vs exact 2).

With (*) linear in (h, w), SGD or heavy-ball on h plus K inner steps on w is a
linear map of (h, w, m) per coordinate; :func:`outer_matrix` builds it and
its spectral radius is the per-step contraction rate of the whole run.
"""

from __future__ import annotations

import numpy as np


def contraction(inner_lr: float) -> float:
    """a = 1 - 2 eta, the factor by which one inner step shrinks w - w*(h)."""
    return 1.0 - 2.0 * inner_lr


def step_factor(order: int, inner_lr: float) -> float:
    """b_n = 1 - (1 - 2 eta)^n: the n-order hypergradient on w = w*(h), relative to the exact one."""
    return 1.0 - contraction(inner_lr) ** order


def hypergrad(w, h, order: int, inner_lr: float):
    """g_n(w, h) = 2 b_n^2 h - 2 b_n a^n w, equation (*)."""
    a_n = contraction(inner_lr) ** order
    b_n = 1.0 - a_n
    return 2.0 * b_n**2 * np.asarray(h) - 2.0 * b_n * a_n * np.asarray(w)


def hypergrad_coefficients(order: int | None, inner_lr: float) -> tuple[float, float]:
    """(c_h, c_w) with g = c_h h + c_w w; ``order=None`` is the exact hypergradient 2h."""
    if order is None:
        return 2.0, 0.0
    a_n = contraction(inner_lr) ** order
    b_n = 1.0 - a_n
    return 2.0 * b_n**2, -2.0 * b_n * a_n


def outer_matrix(
    order: int | None, inner_lr: float, outer_lr: float, inner_steps: int, momentum: float = 0.0
) -> np.ndarray:
    """The linear map (h, w, m) -> (h', w', m') of one outer step, per coordinate.

    optax.sgd(outer_lr, momentum): m' = g + momentum m, h' = h - outer_lr m';
    then K = ``inner_steps`` inner steps: w' = a^K w - (1 - a^K) h'.
    """
    c_h, c_w = hypergrad_coefficients(order, inner_lr)
    a_k = contraction(inner_lr) ** inner_steps
    m_row = np.array([c_h, c_w, momentum])
    h_row = np.array([1.0, 0.0, 0.0]) - outer_lr * m_row
    w_row = np.array([0.0, a_k, 0.0]) - (1.0 - a_k) * h_row
    return np.stack([h_row, w_row, m_row])


def rate(order: int | None, inner_lr: float, outer_lr: float, inner_steps: int, momentum: float = 0.0) -> float:
    """Spectral radius of :func:`outer_matrix`: |(h, w)| shrinks like rate^t (grows if > 1)."""
    return float(np.max(np.abs(np.linalg.eigvals(outer_matrix(order, inner_lr, outer_lr, inner_steps, momentum)))))
