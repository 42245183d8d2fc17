"""The toy bilevel problem shared by the ``bilevel``, ``drmad`` and ``hypernet`` stages.

    L_train(w, h) = |h + w|^2,     L_val(w) = |w|^2,     w, h in R^d.

Best response w*(h) = argmin_w L_train(w, h) = -h, so the outer objective is
L_val(w*(h)) = |h|^2 with optimum h = 0 (docs/REFERENCES.md §2). Both losses accept
pytrees (any matching structure of arrays) so the generic hypergradient code can
be tested on them unchanged.
"""

from __future__ import annotations

from typing import cast

import jax
import jax.numpy as jnp


def _sq_norm(tree) -> jax.Array:
    return cast(jax.Array, sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree)))  # sum([]) is 0


def train_loss(w, h) -> jax.Array:
    """L_train(w, h) = |h + w|^2."""
    return _sq_norm(jax.tree_util.tree_map(jnp.add, h, w))


def val_loss(w, h=None) -> jax.Array:
    """L_val(w) = |w|^2 (``h`` accepted and ignored, so both losses share a signature)."""
    del h
    return _sq_norm(w)


def best_response(h):
    """w*(h) = -h."""
    return jax.tree_util.tree_map(jnp.negative, h)
