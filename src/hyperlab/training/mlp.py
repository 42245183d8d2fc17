"""The ReLU MLP of the candidates stage, and a *pack* of such networks computed as one.

Compiling one trainer per tiny network would cost more than training it, so
:mod:`hyperlab.training.trainer` trains a pack of networks of any shapes in
one compiled call, without padding. This module holds the model and the pack
arithmetic:

* every network of a pack sees the same minibatches (the data order depends on
  the seed only), so the first layers of all of them are one matmul
  ``x @ [W1_a | W1_b | ...]`` -- the widest, most efficient product, and the
  one holding most of the FLOPs (the 784-wide input);
* every deeper layer is one batched matmul per distinct (fan_in, fan_out)
  shape at that depth (:func:`make_plan`), so the compiled program grows with
  the number of layer shapes, not of networks;
* the pack's loss is the sum of the networks' mean cross-entropies
  (:func:`pack_losses`). Parameters are disjoint and Adam is elementwise, so
  each network follows the trajectory it would follow alone (up to
  floating-point reassociation), and a network that diverges (NaN) cannot
  contaminate the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.training.network import N_CLASSES, N_INPUTS, Arch, arch_seed

# --------------------------------------------------------------------------- model


class MLP(nn.Module):
    """ReLU MLP with hidden ``widths`` and a linear output layer (logits)."""

    widths: tuple[int, ...]
    n_classes: int = N_CLASSES

    def setup(self):
        self.layers = [nn.Dense(w) for w in self.widths] + [nn.Dense(self.n_classes)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def init_weights(arch: Arch, seed: int, n_in: int = N_INPUTS, n_classes: int = N_CLASSES) -> dict:
    """Initial Flax parameters ``{"layers_0": {"kernel", "bias"}, ...}`` of ``arch`` under ``seed``.

    The distribution is Flax's ``nn.Dense`` default (LeCun normal: a normal of
    standard deviation ``1/sqrt(fan_in)`` truncated to two of its own standard
    deviations and rescaled to keep that variance; zero biases), drawn with
    NumPy on the host from the stream ``(seed, arch_seed(arch))``. Drawing it
    inside the compiled trainer would inline one random-bits kernel per weight
    matrix, and compiling those costs more than training a small network; the
    stream also makes a network's initial weights independent of which other
    networks share its compiled trainer.
    """
    rng = np.random.default_rng([seed, arch_seed(tuple(arch))])
    sizes = (n_in, *arch, n_classes)
    weights = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        scale = np.float32(_TRUNC_STD_FIX / np.sqrt(fan_in))
        weights[f"layers_{i}"] = {
            "kernel": _truncated_normal(rng, (fan_in, fan_out)) * scale,
            "bias": np.zeros(fan_out, np.float32),
        }
    return weights


# Flax's variance_scaling "truncated_normal": stddev / .87962566103423978, the std of N(0,1) truncated to [-2, 2].
_TRUNC_STD_FIX = np.float32(1.0 / 0.87962566103423978)


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal truncated to [-2, 2] (resampling the ~4.6% outside), float32."""
    z = rng.standard_normal(shape, dtype=np.float32)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32)
        bad = np.abs(z) > 2
    return z


# --------------------------------------------------------------------------- packs


class Group(NamedTuple):
    """One batched dense layer: the layer ``depth`` of every member network, all of shape (fan_in, fan_out).

    ``runs`` say where the inputs are: ``(source, start, stop)`` row ranges of
    earlier activations, concatenated in member order.
    """

    key: str
    depth: int  # 1-based index of the dense layer in each member network
    fan_in: int
    fan_out: int
    relu: bool  # hidden layer (ReLU) or output layer (logits)
    members: tuple[int, ...]
    runs: tuple[tuple[int, int, int], ...]


class PackPlan(NamedTuple):
    """How a pack of networks of any shapes is computed with few, large operations.

    * layer 1 of every network: one matmul ``x @ W1`` whose columns are the
      first layers of all networks side by side (widths grouped, each group a
      "source" of activations shaped (n, batch, width));
    * every later hidden layer: networks whose layer at that depth has the same
      (fan_in, fan_out) form a :class:`Group`, one batched matmul;
    * the output layers: one group per last hidden width.

    No padding, so no wasted FLOPs; the number of operations grows with the
    number of distinct layer shapes, not with the number of networks.
    """

    archs: tuple[Arch, ...]
    first: tuple[tuple[int, tuple[int, ...]], ...]  # (width, members) per first-layer source
    groups: tuple[Group, ...]  # hidden groups by depth, then output groups
    out_order: tuple[int, ...]  # network of each row of the concatenated outputs


def _input_runs(members: tuple[int, ...], loc: dict[int, tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    """(source, start, stop) rows where ``members``' inputs lie, adjacent rows of one source merged."""
    runs: list[list[int]] = []  # [source, start, stop], stop extended in place
    for i in members:
        src, row = loc[i]
        if runs and runs[-1][0] == src and runs[-1][2] == row:
            runs[-1][2] = row + 1
        else:
            runs.append([src, row, row + 1])
    return cast(tuple[tuple[int, int, int], ...], tuple(map(tuple, runs)))


def _n_sources(loc: dict[int, tuple[int, int]]) -> int:
    """How many sources exist: the newest one is the last group's, which its members still point at."""
    return 1 + max(src for src, _ in loc.values())


def _groups(
    members_by_key: dict[tuple[int, int], list[int]], depth: int, relu: bool, loc: dict[int, tuple[int, int]]
) -> list[Group]:
    """One :class:`Group` per (fan_in, fan_out); ``loc`` (network -> (source, row)) then points at the outputs.

    Each group's outputs become a new source, numbered after the ``n_sources`` existing ones.
    """
    n_sources = _n_sources(loc)
    out = []
    for (fan_in, fan_out), members in sorted(members_by_key.items()):
        # members ordered by where their inputs are, so inputs are few contiguous runs
        ordered = tuple(sorted(members, key=lambda i: loc[i]))
        key = f"h{depth}_{fan_in}x{fan_out}" if relu else f"out_{fan_in}"
        out.append(Group(key, depth, fan_in, fan_out, relu, ordered, _input_runs(ordered, loc)))
    for g in out:
        for row, i in enumerate(g.members):
            loc[i] = (n_sources, row)
        n_sources += 1
    return out


def make_plan(archs: Sequence[Arch]) -> PackPlan:
    """The :class:`PackPlan` of ``archs`` (networks are referred to by their index)."""
    archs = tuple(tuple(int(w) for w in a) for a in archs)
    lex = sorted(range(len(archs)), key=lambda i: (archs[i], i))
    first: list[tuple[int, tuple[int, ...]]] = []
    loc: dict[int, tuple[int, int]] = {}
    for width in sorted({a[0] for a in archs}):
        members = tuple(i for i in lex if archs[i][0] == width)
        for row, i in enumerate(members):
            loc[i] = (len(first), row)
        first.append((width, members))
    groups = []
    for depth in range(2, max(len(a) for a in archs) + 1):
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, a in enumerate(archs):
            if len(a) >= depth:
                by_shape.setdefault((a[depth - 2], a[depth - 1]), []).append(i)
        groups += _groups(by_shape, depth, True, loc)
    by_last: dict[tuple[int, int], list[int]] = {}
    for i, a in enumerate(archs):
        by_last.setdefault((a[-1], N_CLASSES), []).append(i)
    outs = _groups(by_last, 0, False, loc)
    groups += outs
    return PackPlan(archs, tuple(first), tuple(groups), tuple(i for g in outs for i in g.members))


def pack_weights(plan: PackPlan, weights: Sequence[dict], xp=np) -> dict:
    """Flax parameters of each network (``weights[i]`` for ``plan.archs[i]``) -> packed pytree.

    ``{"w1": (n_in, sum of first widths), "b1": (...), <group key>: {"kernel":
    (members, fan_in, fan_out), "bias": (members, fan_out)}, ...}``.
    """
    order = [i for _, members in plan.first for i in members]
    packed = {
        "w1": xp.concatenate([weights[i]["layers_0"]["kernel"] for i in order], axis=-1),
        "b1": xp.concatenate([weights[i]["layers_0"]["bias"] for i in order], axis=-1),
    }
    for g in plan.groups:
        layer = [weights[i][f"layers_{(g.depth or len(plan.archs[i]) + 1) - 1}"] for i in g.members]
        packed[g.key] = {"kernel": xp.stack([p["kernel"] for p in layer]), "bias": xp.stack([p["bias"] for p in layer])}
    return packed


def unpack_weights(plan: PackPlan, packed: dict) -> list[dict]:
    """Inverse of :func:`pack_weights`; leading axes (e.g. seeds) are kept, arrays become NumPy."""
    packed = jax.tree.map(np.asarray, packed)
    out: list[dict] = [{} for _ in plan.archs]
    start = 0
    for width, members in plan.first:
        for i in members:
            sl = slice(start, start + width)
            out[i]["layers_0"] = {"kernel": packed["w1"][..., sl], "bias": packed["b1"][..., sl]}
            start += width
    for g in plan.groups:
        for row, i in enumerate(g.members):
            depth = g.depth or len(plan.archs[i]) + 1
            out[i][f"layers_{depth - 1}"] = {
                "kernel": packed[g.key]["kernel"][..., row, :, :],
                "bias": packed[g.key]["bias"][..., row, :],
            }
    return out


def pack_logits(plan: PackPlan, packed: dict, x: jax.Array) -> jax.Array:
    """Logits (n_networks, batch, classes) of every network of the pack, in network order."""
    h1 = nn.relu(x @ packed["w1"] + packed["b1"])
    sources, start = [], 0
    for width, members in plan.first:
        stop = start + width * len(members)
        sources.append(h1[:, start:stop].reshape(x.shape[0], len(members), width).transpose(1, 0, 2))
        start = stop
    outputs = []
    for g in plan.groups:
        parts = [sources[src][a:b] for src, a, b in g.runs]
        h = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=0)
        h = jnp.einsum("nbi,nio->nbo", h, packed[g.key]["kernel"]) + packed[g.key]["bias"][:, None, :]
        sources.append(nn.relu(h) if g.relu else h)
        if not g.relu:
            outputs.append(h)
    logits = jnp.concatenate(outputs, axis=0)
    return logits[np.argsort(plan.out_order)]


def pack_losses(plan: PackPlan, packed: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of each network, shape (n_networks,)."""
    logits = pack_logits(plan, packed, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y[None, :]).mean(axis=-1)


def pack_errors(
    plan: PackPlan, packed: dict, x_chunks: jax.Array, y_chunks: jax.Array, set_chunks: jax.Array, n_sets: int
) -> jax.Array:
    """Misclassified rows (n_networks, n_sets) of several evaluation sets at once (exact float32 counts).

    The sets are concatenated and chunked (:func:`chunk_rows`); ``set_chunks``
    says which set each row belongs to (-1: padding). One pass over all rows
    keeps a single copy of the pack's forward pass in the compiled program.
    """

    def wrong(chunk):
        x, y, s = chunk
        miss = (jnp.argmax(pack_logits(plan, packed, x), -1) != y).astype(jnp.float32)
        return miss @ jax.nn.one_hot(s, n_sets)  # padding rows one-hot to zeros

    return jnp.sum(jax.lax.map(wrong, (x_chunks, y_chunks, set_chunks)), axis=0)
