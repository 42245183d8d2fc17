"""How accurate each hypergradient method is, per hyperparameter family: against exact reverse mode.

At ``check_points`` points of the box (h0, then uniform draws), for the first seed:

* ``central_differences``: exact reverse mode in float64 checked against central
  differences in float64 -- every coordinate where d <= ``fd_max_dim``, else the
  derivatives along ``fd_directions`` random unit directions (compared as the vector of
  those directional derivatives);
* ``exact`` (float32, what the runs use) and every approximation -- ``kpiece<K>``,
  ``drmad``, ``online<n>`` (the n-step hypergradient at w_{T-n}), ``ift`` (on the L2
  coordinates only: it gives learning rates nothing) -- against exact reverse mode in
  float64: relative error |g − g*| / |g*|, cosine, and the steps the guarded reverse pass
  went back through (T: all of them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.hpo import gradient
from hyperlab.hpo.methods import Pieces
from hyperlab.hpo.methods import label as method_label
from hyperlab.hpo.problem import Data, initial_weights

#: the approximations compared, as (how the method list names them, the hypergradient that measures them)
APPROXIMATIONS = (("kpiece", "kpiece"), ("drmad", "drmad"), ("online", "truncated"), ("ift", "ift"))


def as_float64(tree):
    return jax.tree_util.tree_map(lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def table(pieces: Pieces, params, data: Data, sizes, seed: int) -> pd.DataFrame:
    """One row per (point, method) for the family of ``pieces`` (whose jitted functions the runs compiled) under
    the ``hpo_scale`` section ``params``; see the module docstring."""
    family = pieces.family
    rng = np.random.default_rng(seed)
    points = [family.h0] + [
        rng.uniform(family.low, family.high).astype(np.float32) for _ in range(params.check_points - 1)
    ]
    tree, w0 = initial_weights(sizes, seed)
    d64, tree64, w64 = as_float64(data), as_float64(tree), as_float64(w0)
    f64 = pieces.f
    grad = {"exact": pieces.hypergradient("exact")}
    for name, how in APPROXIMATIONS:
        if name in params.methods:
            n = {"kpiece": params.pieces, "truncated": params.order}.get(how, 1)
            grad[method_label(name, params.pieces, params.order)] = pieces.hypergradient(how, n)
    full = family.dim <= params.fd_max_dim
    l2 = ~family.is_lr
    rows = []
    for p, h in enumerate(points):
        _, g64, _ = (np.asarray(x, np.float64) for x in grad["exact"](d64, tree64, w64, jnp.asarray(h, jnp.float64)))
        if full:
            dirs = np.eye(family.dim)
        else:
            dirs = rng.normal(size=(params.fd_directions, family.dim))
            dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        h64, eps = np.asarray(h, np.float64), params.fd_eps
        fd = np.array(
            [
                (float(f64(d64, tree64, w64, h64 + eps * v)) - float(f64(d64, tree64, w64, h64 - eps * v))) / (2 * eps)
                for v in dirs
            ]
        )
        base = {"family": family.name, "dim": family.dim, "point": p}
        rows.append(
            {
                **base,
                "method": "central_differences",
                "compared": "all" if full else f"{len(dirs)} directions",
                "rel_err": gradient.relative_error(fd, dirs @ g64),
                "cosine": gradient.cosine(fd, dirs @ g64),
                "reversed_steps": None,
            }
        )
        for label, fn in grad.items():
            _, g, steps = fn(data, tree, w0, jnp.asarray(h, jnp.float32))
            g = np.asarray(g, np.float64)
            keep = l2 if label == "ift" else np.ones(family.dim, bool)
            rows.append(
                {
                    **base,
                    "method": label,
                    "compared": "l2" if label == "ift" else "all",
                    "rel_err": gradient.relative_error(g[keep], g64[keep]),
                    "cosine": gradient.cosine(g[keep], g64[keep]),
                    "reversed_steps": int(steps),
                }
            )
    return pd.DataFrame(rows)
