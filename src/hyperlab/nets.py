"""ReLU MLPs on MNIST: the Flax model, a packed trainer and inference timing.

The ``candidates`` stage trains every network of a small architecture space
(a tabular benchmark, REFERENCES.md §1). Compiling one trainer per tiny network
would cost more than training it, so :func:`make_pack_trainer` trains a *pack*
of networks of any shapes in one compiled call, without padding:

* every network of a pack sees the same minibatches (the data order depends on
  the seed only), so the first layers of all of them are one matmul
  ``x @ [W1_a | W1_b | ...]`` -- the widest, most efficient product, and the
  one holding most of the FLOPs (the 784-wide input);
* every deeper layer is one batched matmul per distinct (fan_in, fan_out)
  shape at that depth (:func:`make_plan`), so the compiled program grows with
  the number of layer shapes, not of networks;
* the pack's loss is the sum of the networks' mean cross-entropies. Parameters
  are disjoint and Adam is elementwise, so each network follows the trajectory
  it would follow alone (up to floating-point reassociation), and a network
  that diverges (NaN) cannot contaminate the others;
* training is one jitted ``lax.scan`` over epochs and minibatches, seeds are
  vmapped (Adam: Kingma & Ba 2015, Alg. 1, via optax).

Latency is measured separately, per network, with the plain Flax model
(:func:`time_latency`): packing would hide it.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.selection.space import N_CLASSES, N_INPUTS, Arch, arch_seed, n_params, train_flops

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


def init_params(arch: Arch, seed: int, n_in: int = N_INPUTS, n_classes: int = N_CLASSES) -> dict:
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
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        scale = np.float32(_TRUNC_STD_FIX / np.sqrt(fan_in))
        params[f"layers_{i}"] = {"kernel": _truncated_normal(rng, (fan_in, fan_out)) * scale,
                                 "bias": np.zeros(fan_out, np.float32)}
    return params


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


def epoch_orders(seed: int, n_train: int, epochs: int, batch_size: int) -> np.ndarray:
    """Minibatch indices (epochs, steps, batch_size) of one seed: a fresh permutation per epoch.

    Shared by every network under that seed (so a pack shares its first-layer
    matmul); the remainder of ``n_train // batch_size`` is dropped each epoch.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    steps = n_train // batch_size
    return np.stack([rng.permutation(n_train)[: steps * batch_size].reshape(steps, batch_size)
                     for _ in range(epochs)]).astype(np.int32)


# --------------------------------------------------------------------------- packs


class Group(NamedTuple):
    """One batched dense layer: the layer ``depth`` of every member network, all of shape (fan_in, fan_out).

    ``runs`` say where the inputs are: ``(source, start, stop)`` row ranges of
    earlier activations, concatenated in member order.
    """
    key: str
    depth: int               # 1-based index of the dense layer in each member network
    fan_in: int
    fan_out: int
    relu: bool               # hidden layer (ReLU) or output layer (logits)
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
    first: tuple[tuple[int, tuple[int, ...]], ...]   # (width, members) per first-layer source
    groups: tuple[Group, ...]                        # hidden groups by depth, then output groups
    out_order: tuple[int, ...]                       # network of each row of the concatenated outputs


def make_plan(archs: Sequence[Arch]) -> PackPlan:
    """The :class:`PackPlan` of ``archs`` (networks are referred to by their index)."""
    archs = tuple(tuple(int(w) for w in a) for a in archs)
    lex = sorted(range(len(archs)), key=lambda i: (archs[i], i))
    first, loc = [], {}
    for width in sorted({a[0] for a in archs}):
        members = tuple(i for i in lex if archs[i][0] == width)
        for row, i in enumerate(members):
            loc[i] = (len(first), row)
        first.append((width, members))
    n_sources = len(first)

    def grouped(members_by_key, depth_of, relu):
        nonlocal n_sources
        out = []
        for (fan_in, fan_out), members in sorted(members_by_key.items()):
            # members ordered by where their inputs are, so inputs are few contiguous runs
            members = tuple(sorted(members, key=lambda i: loc[i]))
            runs = []
            for i in members:
                src, row = loc[i]
                if runs and runs[-1][0] == src and runs[-1][2] == row:
                    runs[-1][2] = row + 1
                else:
                    runs.append([src, row, row + 1])
            key = f"h{depth_of}_{fan_in}x{fan_out}" if relu else f"out_{fan_in}"
            out.append(Group(key, depth_of, fan_in, fan_out, relu, members, tuple(map(tuple, runs))))
        for g in out:
            for row, i in enumerate(g.members):
                loc[i] = (n_sources, row)
            n_sources += 1
        return out

    groups = []
    for depth in range(2, max(len(a) for a in archs) + 1):
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, a in enumerate(archs):
            if len(a) >= depth:
                by_shape.setdefault((a[depth - 2], a[depth - 1]), []).append(i)
        groups += grouped(by_shape, depth, relu=True)
    by_last: dict[tuple[int, int], list[int]] = {}
    for i, a in enumerate(archs):
        by_last.setdefault((a[-1], N_CLASSES), []).append(i)
    outs = grouped(by_last, 0, relu=False)
    groups += outs
    return PackPlan(archs, tuple(first), tuple(groups), tuple(i for g in outs for i in g.members))


def pack_params(plan: PackPlan, params: Sequence[dict], xp=np) -> dict:
    """Flax parameters of each network (``params[i]`` for ``plan.archs[i]``) -> packed pytree.

    ``{"w1": (n_in, sum of first widths), "b1": (...), <group key>: {"kernel":
    (members, fan_in, fan_out), "bias": (members, fan_out)}, ...}``.
    """
    order = [i for _, members in plan.first for i in members]
    packed = {"w1": xp.concatenate([params[i]["layers_0"]["kernel"] for i in order], axis=-1),
              "b1": xp.concatenate([params[i]["layers_0"]["bias"] for i in order], axis=-1)}
    for g in plan.groups:
        layer = [params[i][f"layers_{(g.depth or len(plan.archs[i]) + 1) - 1}"] for i in g.members]
        packed[g.key] = {"kernel": xp.stack([p["kernel"] for p in layer]),
                         "bias": xp.stack([p["bias"] for p in layer])}
    return packed


def unpack_params(plan: PackPlan, packed: dict) -> list[dict]:
    """Inverse of :func:`pack_params`; leading axes (e.g. seeds) are kept, arrays become NumPy."""
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
            out[i][f"layers_{depth - 1}"] = {"kernel": packed[g.key]["kernel"][..., row, :, :],
                                             "bias": packed[g.key]["bias"][..., row, :]}
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


def pack_errors(plan: PackPlan, packed: dict, x_chunks: jax.Array, y_chunks: jax.Array,
                set_chunks: jax.Array, n_sets: int) -> jax.Array:
    """Misclassified rows (n_networks, n_sets) of several evaluation sets at once (exact float32 counts).

    The sets are concatenated and chunked (:func:`chunk_rows`); ``set_chunks``
    says which set each row belongs to (-1: padding). One pass over all rows
    keeps a single copy of the pack's forward pass in the compiled program.
    """
    def wrong(chunk):
        x, y, s = chunk
        miss = (jnp.argmax(pack_logits(plan, packed, x), -1) != y).astype(jnp.float32)
        return miss @ jax.nn.one_hot(s, n_sets)            # padding rows one-hot to zeros
    return jnp.sum(jax.lax.map(wrong, (x_chunks, y_chunks, set_chunks)), axis=0)


def chunk_rows(sets: Sequence[tuple[np.ndarray, np.ndarray]], chunk: int) -> tuple[np.ndarray, ...]:
    """Evaluation sets [(x, y), ...] -> (x, y, set index) in chunks of ``chunk`` rows.

    Shapes (C, chunk, d), (C, chunk), (C, chunk); the last chunk is padded with
    set index -1. Evaluating a pack on all rows at once would hold
    (rows x sum of widths) activations; chunks bound that memory.
    """
    x = np.concatenate([np.asarray(xs, np.float32) for xs, _ in sets])
    y = np.concatenate([np.asarray(ys, np.int32) for _, ys in sets])
    s = np.concatenate([np.full(len(ys), k, np.int32) for k, (_, ys) in enumerate(sets)])
    chunk = max(1, min(chunk, len(x)))
    n_chunks = -(-len(x) // chunk)
    pad = n_chunks * chunk - len(x)
    x = np.concatenate([x, np.zeros((pad, x.shape[1]), np.float32)])
    y = np.concatenate([y, np.zeros(pad, np.int32)])
    s = np.concatenate([s, -np.ones(pad, np.int32)])
    return x.reshape(n_chunks, chunk, -1), y.reshape(n_chunks, chunk), s.reshape(n_chunks, chunk)


class PackResult(NamedTuple):
    """Leading axes (n_seeds, n_networks) unless noted."""
    wrong: jax.Array         # (seeds, networks, n_eval_sets) misclassified counts
    finite: jax.Array        # (seeds, networks) bool: every training loss was finite
    epoch_loss: jax.Array    # (seeds, epochs, networks) mean training loss per epoch
    params: dict             # trained packed parameters, leading seed axis


def make_pack_trainer(plan: PackPlan, *, learning_rate: float, n_sets: int,
                      on_epoch: Callable[[jax.Array], None] | None = None) -> Callable:
    """Jitted ``train(packed, orders, x, y, eval_chunks) -> PackResult`` for the networks of ``plan``.

    ``packed``: initial packed parameters (:func:`pack_params`) with a leading seed axis;
    ``orders``: int32 (n_seeds, epochs, steps, batch) minibatch indices
    (:func:`epoch_orders`); ``x`` (n_train, n_in) float32, ``y`` (n_train,);
    ``eval_chunks``: the ``n_sets`` evaluation sets, chunked (:func:`chunk_rows`);
    errors are reported in that order. Training is one ``lax.scan`` over epochs whose
    body scans over minibatches; seeds are vmapped, so one call trains
    (networks x seeds) models. No random numbers are drawn inside, which keeps
    the compiled program small. ``on_epoch(n_finite)``, if given, is called on the
    host after every epoch of every seed (a progress bar inside one long call).
    """
    tx = optax.adam(learning_rate)

    def loss_fn(packed, xb, yb):
        losses = pack_losses(plan, packed, xb, yb)
        return jnp.sum(losses), losses

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def train_one(packed, orders, x, y, eval_chunks):
        def step(carry, idx):
            packed, opt_state, finite = carry
            grads, losses = grad_fn(packed, x[idx], y[idx])
            updates, opt_state = tx.update(grads, opt_state, packed)
            return (optax.apply_updates(packed, updates), opt_state, finite & jnp.isfinite(losses)), losses

        def epoch(carry, order):
            carry, losses = jax.lax.scan(step, carry, order)
            if on_epoch is not None:
                jax.debug.callback(on_epoch, carry[2].sum())
            return carry, losses.mean(axis=0)

        finite = jnp.ones(len(plan.archs), bool)
        (packed, _, finite), epoch_loss = jax.lax.scan(epoch, (packed, tx.init(packed), finite), orders)
        wrong = pack_errors(plan, packed, *eval_chunks, n_sets)
        return PackResult(wrong, finite, epoch_loss, packed)

    return jax.jit(jax.vmap(train_one, in_axes=(0, 0, None, None, None)))


def init_pack(plan: PackPlan, seeds: Sequence[int], n_in: int = N_INPUTS) -> dict:
    """Initial packed parameters of the networks of ``plan``, leading seed axis (host arrays)."""
    per_seed = [pack_params(plan, [init_params(a, s, n_in) for a in plan.archs]) for s in seeds]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *per_seed)


def plan_packs(archs: Sequence[Arch], n_seeds: int, max_params: int) -> list[list[int]]:
    """Split ``archs`` (indices) into packs of at most ``max_params`` trained parameters (all seeds).

    Networks are taken in lexicographic order of their widths, which keeps the
    shape groups of :func:`make_plan` whole; a network over the budget gets a
    pack of its own. Fewer packs mean fewer compilations, more memory.
    """
    order = sorted(range(len(archs)), key=lambda i: (tuple(archs[i]), i))
    packs, current, size = [], [], 0
    for i in order:
        p = n_params(tuple(archs[i])) * n_seeds
        if current and size + p > max_params:
            packs.append(current)
            current, size = [], 0
        current.append(i)
        size += p
    if current:
        packs.append(current)
    return packs


class SpaceResult(NamedTuple):
    """Every network of a space trained under every seed. Per-network axes: (networks, seeds)."""
    errors: np.ndarray          # (networks, seeds, sets), NaN where failed
    failed: np.ndarray          # (networks, seeds) bool: a non-finite loss or final weight
    final_loss: np.ndarray      # (networks, seeds): mean training loss of the last epoch
    train_seconds: np.ndarray   # (networks, seeds): the pack's run time, apportioned by training FLOPs
    params: list[dict]          # per network: trained Flax params, leading seed axis (NumPy)
    compile_seconds: float
    run_seconds: float
    n_packs: int


def train_space(archs: Sequence[Arch], seeds: Sequence[int], x: np.ndarray, y: np.ndarray,
                eval_sets: Sequence[tuple[np.ndarray, np.ndarray]], *, epochs: int, batch_size: int,
                learning_rate: float, max_pack_params: int, eval_chunk: int,
                progress: Callable | None = None) -> SpaceResult:
    """Train every network of ``archs`` under every seed; errors on each of ``eval_sets``.

    One compiled call per pack (:func:`plan_packs`, :func:`make_pack_trainer`).
    A network's ``train_seconds`` is its share of its pack's measured run time,
    in proportion to its training FLOPs, split evenly over the seeds (so the
    column sums to the measured training time); compilation is counted apart.
    """
    archs = [tuple(int(w) for w in a) for a in archs]
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size {batch_size} must be in 1..{len(x)} (the training rows)")
    n, s, k = len(archs), len(seeds), len(eval_sets)
    orders = jnp.asarray(np.stack([epoch_orders(seed, len(x), epochs, batch_size) for seed in seeds]))
    xd, yd = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    chunks = tuple(jnp.asarray(c) for c in chunk_rows(eval_sets, eval_chunk))
    sizes = np.array([len(ys) for _, ys in eval_sets], float)
    errors = np.full((n, s, k), np.nan)
    failed = np.ones((n, s), bool)
    final_loss = np.full((n, s), np.nan)
    seconds = np.zeros((n, s))
    params: list[dict] = [{} for _ in archs]
    compile_s = run_s = 0.0
    packs = plan_packs(archs, s, max_pack_params)
    bar = progress(total=n, desc="networks", unit="net") if progress else None
    for pack in packs:
        # the bar moves by this pack's share after every epoch of every seed, inside the compiled call
        tick = None if bar is None else (lambda _, m=len(pack): bar.update(m / (epochs * s)))
        plan = make_plan([archs[i] for i in pack])
        init = jax.tree.map(jnp.asarray, init_pack(plan, seeds, x.shape[1]))
        t0 = time.perf_counter()
        compiled = make_pack_trainer(plan, learning_rate=learning_rate, n_sets=k, on_epoch=tick).lower(
            init, orders, xd, yd, chunks).compile()
        t1 = time.perf_counter()
        res = jax.block_until_ready(compiled(init, orders, xd, yd, chunks))
        t2 = time.perf_counter()
        compile_s += t1 - t0
        run_s += t2 - t1
        trained = unpack_params(plan, res.params)
        flops = np.array([train_flops(a) for a in plan.archs], float)
        for j, i in enumerate(pack):
            params[i] = trained[j]
            weights_ok = np.array([all(np.isfinite(leaf[seed]).all() for leaf in jax.tree.leaves(trained[j]))
                                   for seed in range(s)])
            failed[i] = ~(np.asarray(res.finite)[:, j] & weights_ok)
            errors[i] = np.where(failed[i][:, None], np.nan, np.asarray(res.wrong)[:, j, :] / sizes)
            final_loss[i] = np.asarray(res.epoch_loss)[:, -1, j]
            seconds[i] = (t2 - t1) * flops[j] / flops.sum() / s
    if bar is not None:
        bar.close()
    return SpaceResult(errors, failed, final_loss, seconds, params, compile_s, run_s, len(packs))


# --------------------------------------------------------------------------- latency


def seed_slice(params: dict, seed_index: int) -> dict:
    """One seed's parameters out of a pytree with a leading seed axis."""
    return jax.tree.map(lambda leaf: leaf[seed_index], params)


@lru_cache(maxsize=None)
def forward_fn(arch: Arch) -> Callable:
    """The jitted forward pass of one architecture (one compile per shape, shared by its seeds)."""
    return jax.jit(MLP(tuple(arch)).apply)


def time_latency(archs: Sequence[Arch], params: Sequence[dict], x: jax.Array, *, repeats: int,
                 warmup: int, rng: np.random.Generator, progress: Callable | None = None) -> np.ndarray:
    """Median wall time (ms) of one forward pass of the batch ``x``, for each (arch, params).

    After ``warmup`` untimed calls per model, ``repeats`` rounds each time every
    model once, in a fresh random order per round: models are interleaved, so a
    slow spell of a shared machine spreads over all of them instead of biasing
    whichever region of the table it hit. Each call is synchronised
    (``block_until_ready``), so the time is the full forward pass.
    """
    fns = [forward_fn(tuple(a)) for a in archs]
    # on the device beforehand, or every timed call would include a host-to-device copy
    variables = [{"params": jax.tree.map(jnp.asarray, p)} for p in params]
    x = jnp.asarray(x)
    pairs = list(zip(fns, variables))
    for fn, v in (pairs if progress is None else progress(pairs, desc="latency warm-up")):
        for _ in range(warmup):
            fn(v, x).block_until_ready()
    times = np.empty((repeats, len(fns)))
    rounds = range(repeats) if progress is None else progress(range(repeats), desc="latency rounds")
    for r in rounds:
        for j in rng.permutation(len(fns)):
            t0 = time.perf_counter()
            fns[j](variables[j], x).block_until_ready()
            times[r, j] = time.perf_counter() - t0
    return np.median(times, axis=0) * 1e3
