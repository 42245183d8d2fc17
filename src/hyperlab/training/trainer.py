"""Training every network of an architecture space: packs, one jitted ``lax.scan`` per pack.

:func:`train_space` splits the networks into packs (:func:`plan_packs`) and
trains each with :func:`make_pack_trainer`: one jitted ``lax.scan`` over
epochs and minibatches, seeds vmapped (Adam: Kingma & Ba 2015, Alg. 1, via
optax), the pack computed as in :mod:`hyperlab.training.mlp`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab.progress import Progress, silent
from hyperlab.training.mlp import (
    PackPlan,
    init_weights,
    make_plan,
    pack_errors,
    pack_losses,
    pack_weights,
    unpack_weights,
)
from hyperlab.training.network import N_INPUTS, Arch, n_params, train_flops


def epoch_orders(seed: int, n_train: int, epochs: int, batch_size: int) -> np.ndarray:
    """Minibatch indices (epochs, steps, batch_size) of one seed: a fresh permutation per epoch.

    Shared by every network under that seed (so a pack shares its first-layer
    matmul); the remainder of ``n_train // batch_size`` is dropped each epoch.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    steps = n_train // batch_size
    return np.stack(
        [rng.permutation(n_train)[: steps * batch_size].reshape(steps, batch_size) for _ in range(epochs)]
    ).astype(np.int32)


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

    wrong: jax.Array  # (seeds, networks, n_eval_sets) misclassified counts
    finite: jax.Array  # (seeds, networks) bool: every training loss was finite
    epoch_loss: jax.Array  # (seeds, epochs, networks) mean training loss per epoch
    weights: dict  # trained packed parameters, leading seed axis


def make_pack_trainer(
    plan: PackPlan, *, learning_rate: float, n_sets: int, on_epoch: Callable[[jax.Array], None] | None = None
) -> jax.stages.Wrapped:
    """Jitted ``train(packed, orders, x, y, eval_chunks) -> PackResult`` for the networks of ``plan``.

    ``packed``: initial packed parameters (:func:`pack_weights`) with a leading seed axis;
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

    def train_one(packed, orders, x, y, eval_chunks: tuple[jax.Array, jax.Array, jax.Array]):
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
    per_seed = [pack_weights(plan, [init_weights(a, s, n_in) for a in plan.archs]) for s in seeds]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *per_seed)


def plan_packs(archs: Sequence[Arch], n_seeds: int, max_params: int) -> list[list[int]]:
    """Split ``archs`` (indices) into packs of at most ``max_params`` trained parameters (all seeds).

    Networks are taken in lexicographic order of their widths, which keeps the
    shape groups of :func:`make_plan` whole; a network over the budget gets a
    pack of its own. Fewer packs mean fewer compilations, more memory.
    """
    order = sorted(range(len(archs)), key=lambda i: (tuple(archs[i]), i))
    packs: list[list[int]]
    current: list[int]
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


class TrainSettings(NamedTuple):
    """How :func:`train_space` trains: the ``candidates`` section's training keys, as one record."""

    epochs: int
    batch_size: int
    learning_rate: float
    max_pack_params: int  # parameters (all seeds) one pack may hold: :func:`plan_packs`
    eval_chunk: int  # evaluation rows per step: :func:`chunk_rows`


class SpaceResult(NamedTuple):
    """Every network of a space trained under every seed. Per-network axes: (networks, seeds)."""

    errors: np.ndarray  # (networks, seeds, sets), NaN where failed
    failed: np.ndarray  # (networks, seeds) bool: a non-finite loss or final weight
    final_loss: np.ndarray  # (networks, seeds): mean training loss of the last epoch
    train_seconds: np.ndarray  # (networks, seeds): the pack's run time, apportioned by training FLOPs
    weights: list[dict]  # per network: trained Flax parameters, leading seed axis (NumPy)
    compile_seconds: float
    run_seconds: float
    n_packs: int


def train_space(
    archs: Sequence[Arch],
    seeds: Sequence[int],
    x: np.ndarray,
    y: np.ndarray,
    eval_sets: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: TrainSettings,
    progress: Progress = silent,
) -> SpaceResult:
    """Train every network of ``archs`` under every seed; errors on each of ``eval_sets``.

    One compiled call per pack (:func:`plan_packs`, :func:`make_pack_trainer`).
    A network's ``train_seconds`` is its share of its pack's measured run time,
    in proportion to its training FLOPs, split evenly over the seeds (so the
    column sums to the measured training time); compilation is counted apart.
    With :func:`~hyperlab.progress.silent` no host callback is compiled in.
    """
    epochs, batch_size, learning_rate, max_pack_params, eval_chunk = settings
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
    weights: list[dict] = [{} for _ in archs]
    compile_s = run_s = 0.0
    packs = plan_packs(archs, s, max_pack_params)
    bar = None if progress is silent else progress(total=n, desc="networks", unit="net")
    for pack in packs:
        # the bar moves by this pack's share after every epoch of every seed, inside the compiled call
        share = len(pack) / (epochs * s)
        tick = None if bar is None else (lambda _, share=share: bar.update(share))
        plan = make_plan([archs[i] for i in pack])
        init = jax.tree.map(jnp.asarray, init_pack(plan, seeds, x.shape[1]))
        t0 = time.perf_counter()
        compiled = (
            make_pack_trainer(plan, learning_rate=learning_rate, n_sets=k, on_epoch=tick)
            .lower(init, orders, xd, yd, chunks)
            .compile()
        )
        t1 = time.perf_counter()
        res = jax.block_until_ready(compiled(init, orders, xd, yd, chunks))
        t2 = time.perf_counter()
        compile_s += t1 - t0
        run_s += t2 - t1
        trained = unpack_weights(plan, res.weights)
        flops = np.array([train_flops(a) for a in plan.archs], float)
        for j, i in enumerate(pack):
            weights[i] = trained[j]
            weights_ok = np.array(
                [all(np.isfinite(leaf[seed]).all() for leaf in jax.tree.leaves(trained[j])) for seed in range(s)]
            )
            failed[i] = ~(np.asarray(res.finite)[:, j] & weights_ok)
            errors[i] = np.where(failed[i][:, None], np.nan, np.asarray(res.wrong)[:, j, :] / sizes)
            final_loss[i] = np.asarray(res.epoch_loss)[:, -1, j]
            seconds[i] = (t2 - t1) * flops[j] / flops.sum() / s
    if bar is not None:
        bar.close()
    return SpaceResult(errors, failed, final_loss, seconds, weights, compile_s, run_s, len(packs))
