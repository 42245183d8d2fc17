"""Hyperparameter families of growing dimension on one MNIST problem.

Every family maps its vector h to the two things the inner run uses: an L2 coefficient
per flat weight (kernels only; biases are free) and a learning rate per flat weight
and step. The inner run is then the same for all (:mod:`hyperlab.hpo.problem`):

    w_{t+1} = w_t − α_t(h) ⊙ (∇CE_train(w_t) + c(h) ⊙ w_t),     f(h) = CE_val(w_T).

The families (d for the 784-16-10 MLP, T = 80):

=========  ===============================================================  ========
name       h                                                                d
=========  ===============================================================  ========
layer      one log L2 per layer + one log learning rate (the ``hpo`` stage)  3
knots      per-layer log-lr schedule in K knots (linear between) + L2/layer  2K + 2
unit       one log L2 per hidden/output unit (its incoming weights) + log lr  27
schedule   a log learning rate per layer and step (Maclaurin et al. 2015) + L2/layer  2T + 2
input      one log L2 per input pixel (first layer's rows), per unit after + log lr  795
weight     one log L2 per weight (Lorraine et al. 2020's regime) + log lr     12,705
=========  ===============================================================  ========

Two *kinds* vary d alone (the ``hpo_sweep`` stage, :func:`sweep_family`): the learning-rate
schedule in K knots per layer (``knots<K>``, d = 2K + 2: ``knots`` is K = 8, ``schedule`` K = T),
and the per-weight L2 tied in G contiguous blocks of the kernels' flat order (``groups<G>``,
d = G + 1: ``weight`` is G = every kernel weight). The blocks of G nest in those of any
multiple of G, so each step of a sweep only refines the one before.

Coordinates are log L2 (box ``l2_box``) or log learning rate (box log ``lr_box``);
h0 puts every log L2 at ``l2_0`` and every learning rate at ``lr0``, so every family
starts from the same network. With ``tune_lr`` off (the ``hpo`` stage may hold the
learning rate fixed) h has no learning-rate coordinate and every step uses ``lr0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.hpo.names import FAMILIES

if TYPE_CHECKING:
    from hyperlab.config.sections.hpo import HpoParams


class Layout(NamedTuple):
    """For every flat weight (``ravel_pytree`` order): its layer, and for kernels its row and column."""

    layer: np.ndarray  # (P,) layer of every weight (kernels and biases)
    kernel: np.ndarray  # (P,) bool: penalized by L2
    row: np.ndarray  # (P,) input index of a kernel weight (-1 for a bias)
    col: np.ndarray  # (P,) output unit of the weight
    sizes: tuple[int, ...]

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1


def layout(tree: dict) -> Layout:
    """The flat index arrays of an MLP pytree ``{"dense_i": {"kernel", "bias"}}``, in ``tree_leaves`` order."""
    fields: dict[str, dict] = {k: {} for k in ("layer", "kernel", "row", "col")}
    for name, leaf in tree.items():
        i = int(name.split("_")[1])
        n_in, n_out = np.shape(leaf["kernel"])
        rows, cols = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
        fields["layer"][name] = {"kernel": np.full((n_in, n_out), i), "bias": np.full(n_out, i)}
        fields["kernel"][name] = {"kernel": np.ones((n_in, n_out), bool), "bias": np.zeros(n_out, bool)}
        fields["row"][name] = {"kernel": rows, "bias": np.full(n_out, -1)}
        fields["col"][name] = {"kernel": cols, "bias": np.arange(n_out)}
    flat = {k: np.concatenate([x.ravel() for x in jax.tree_util.tree_leaves(v)]) for k, v in fields.items()}
    n = len(tree)
    sizes = tuple(np.shape(tree[f"dense_{i}"]["kernel"])[0] for i in range(n)) + (
        np.shape(tree[f"dense_{n - 1}"]["kernel"])[1],
    )
    return Layout(flat["layer"], flat["kernel"], flat["row"], flat["col"], sizes)


class Family(NamedTuple):
    """A hyperparameter family: its box, its h0, and the maps h -> L2 per weight, h (, t) -> lr per weight."""

    name: str
    low: np.ndarray  # (d,)
    high: np.ndarray  # (d,)
    h0: np.ndarray  # (d,)
    is_lr: np.ndarray  # (d,) bool: a log learning rate (else a log L2)
    l2: Callable[[jax.Array], jax.Array]  # h -> (P,) L2 coefficient (0 on biases)
    lr: Callable[[jax.Array, jax.Array], jax.Array]  # (h, t) -> (P,) learning rate at step t

    @property
    def dim(self) -> int:
        return len(self.h0)


def _penalty_map(lay: Layout, group: np.ndarray):
    """c(h) = exp(h[group]) on kernels, 0 on biases; ``group`` maps each weight to a coordinate of h."""
    g, mask = jnp.asarray(np.where(lay.kernel, group, 0)), jnp.asarray(lay.kernel)
    return lambda h: jnp.where(mask, jnp.exp(h[g]), 0.0)


def _schedule_lr(lay: Layout, start: int, T: int, knots: int):
    """α_t per weight from a (layers, knots) block of log rates at ``start``: linear in t between knots."""
    layer = jnp.asarray(lay.layer)
    where = np.linspace(0, T - 1, knots) if knots > 1 else np.zeros(1)

    def lr(h, t):
        table = h[start : start + lay.n_layers * knots].reshape(lay.n_layers, knots)
        per_layer = jax.vmap(lambda row: jnp.interp(t.astype(h.dtype), jnp.asarray(where, h.dtype), row))(table)
        return jnp.exp(per_layer)[layer]

    return lr


def _one_lr(n_weights: int, at: int):
    """α_t = exp(h[at]) for every weight and step: one learning rate."""
    return lambda h, t: jnp.exp(h[at]) * jnp.ones(n_weights, h.dtype)


def _l2_groups(name: str, lay: Layout, groups: int = 1) -> tuple[int, np.ndarray]:
    """How many L2 coordinates the family has, and for every flat weight the one it takes (``groups``: G of
    the ``groups`` kind)."""
    if name in ("layer", "schedule", "knots"):
        return lay.n_layers, lay.layer
    if name == "unit":
        offsets = np.cumsum((0,) + lay.sizes[1:-1])  # units of earlier layers
        return sum(lay.sizes[1:]), offsets[lay.layer] + lay.col
    if name == "input":
        # first layer: one per input row; every later layer: one per unit
        offsets = np.cumsum((lay.sizes[0],) + lay.sizes[2:-1])
        later = np.where(lay.layer > 0, offsets[np.maximum(lay.layer - 1, 0)] + lay.col, 0)
        return lay.sizes[0] + sum(lay.sizes[2:]), np.where(lay.layer == 0, lay.row, later)
    if name in ("weight", "groups"):
        kernels = np.flatnonzero(lay.kernel)
        n = len(kernels) if name == "weight" else groups
        group = np.zeros(len(lay.layer), np.int64)
        group[kernels] = np.arange(len(kernels)) * n // len(kernels)  # G contiguous blocks, sizes within 1
        return n, group
    raise ValueError(f"unknown family {name!r}; allowed: {', '.join(FAMILIES)}")


def make_family(name: str, tree: dict, problem: HpoParams, knots: int = 8, groups: int = 1) -> Family:
    """One family over the weights of ``tree`` (see the module docstring for the names); ``problem`` is the
    ``hpo`` section (T, the boxes, h0's values, whether the learning rate is tuned); ``knots``: K of the
    ``knots`` family, ``groups``: G of the ``groups`` kind."""
    lay = layout(tree)
    T = problem.T
    n_l2, group = _l2_groups(name, lay, groups)
    n_knots = {"schedule": T, "knots": knots}.get(name)  # a log-lr schedule per layer, else one lr
    lr: Callable[[jax.Array, jax.Array], jax.Array]
    if not problem.tune_lr:
        lr0 = float(problem.lr0)
        n_lr, lr = 0, lambda h, t: jnp.full(len(lay.layer), lr0, h.dtype)
    elif n_knots is not None:
        n_lr, lr = lay.n_layers * n_knots, _schedule_lr(lay, n_l2, T, n_knots)
    else:
        n_lr, lr = 1, _one_lr(len(lay.layer), n_l2)
    log_lr_box = np.log(np.asarray(problem.lr_box, np.float64))
    is_lr = np.r_[np.zeros(n_l2, bool), np.ones(n_lr, bool)]
    low = np.where(is_lr, log_lr_box[0], problem.l2_box[0]).astype(np.float32)
    high = np.where(is_lr, log_lr_box[1], problem.l2_box[1]).astype(np.float32)
    h0 = np.where(is_lr, np.log(problem.lr0), problem.l2_0).astype(np.float32)
    return Family(name, low, high, h0, is_lr, _penalty_map(lay, group), lr)


#: the kinds of the ``hpo_sweep`` stage: the label prefix of their families, and what the size counts
SWEEP_KINDS = {"lr_knots": "knots", "l2_groups": "groups"}


def n_kernel_weights(tree: dict) -> int:
    """The largest G of the ``groups`` kind: one group per kernel weight."""
    return int(np.sum(layout(tree).kernel))


def sweep_family(kind: str, size: int, tree: dict, problem: HpoParams) -> Family:
    """The family of sweep ``kind`` (:data:`SWEEP_KINDS`) at ``size`` (K knots or G groups), labelled
    ``knots<K>`` / ``groups<G>``."""
    if kind == "lr_knots":
        family = make_family("knots", tree, problem, knots=size)
    elif kind == "l2_groups":
        family = make_family("groups", tree, problem, groups=size)
    else:
        raise ValueError(f"unknown sweep kind {kind!r}; allowed: {', '.join(SWEEP_KINDS)}")
    return family._replace(name=f"{SWEEP_KINDS[kind]}{size}")


def family_by_label(label: str, tree: dict, problem: HpoParams, knots: int = 8) -> Family:
    """A family by the label its rows carry: a name of :data:`FAMILIES` (``knots``: K = ``knots``), or a sweep
    member ``knots<K>`` / ``groups<G>`` (:func:`sweep_family`)."""
    for kind, prefix in SWEEP_KINDS.items():
        size = label[len(prefix) :]
        if label.startswith(prefix) and size.isdigit():
            return sweep_family(kind, int(size), tree, problem)
    return make_family(label, tree, problem, knots)


def coordinate_names(family: Family) -> list[str]:
    """Names of the coordinates of h for tables: ``log_l2_<layer>`` (and ``log_lr``) for the ``layer`` family,
    ``h<index>`` for the others (too many to name one by one)."""
    if family.name == "layer":
        n_l2 = int(np.sum(~family.is_lr))
        return [f"log_l2_{i}" for i in range(n_l2)] + ["log_lr"] * int(np.sum(family.is_lr))
    return [f"h{i:05d}" for i in range(family.dim)]
