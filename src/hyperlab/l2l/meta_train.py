"""Meta-training of the LSTM optimizer by truncated BPTT (Andrychowicz et al. 2016, Sec. 2, Eq. 3).

The meta-loss of one unroll is the mean optimizee loss over its T = ``unroll``
steps, L(phi) = (1/T) sum_{t=1..T} f(theta_t), where theta_t is produced by the
LSTM from the previous gradients. A run of ``n_steps`` optimizee steps is cut
into n_steps / T unrolls; the optimizee parameters and LSTM state are carried
from one unroll to the next (gradients do not flow across the cut) and both are
reset to a fresh optimizee and zero LSTM state when a run ends -- forgetting
this reset is a known reproduction pitfall. The meta-loss and its
first-order meta-gradient: :mod:`.meta_loss`; one meta-step: :mod:`.meta_step`.

Several optimizees per meta-step (``meta_batch``, one after the other in one
program) average away much of the meta-gradient noise. Meta-gradients are
clipped by global norm, and an update whose loss or gradient is not finite is
skipped (and the runs reset). The step-T loss of a greedy short-unroll
objective can get worse with long meta-training while early steps keep
improving, so the weights kept are those with the lowest final-step loss on
the validation split, not the last ones.

Three departures from the paper's recipe are options, off by default (on the
validation split none of them helped every meta-seed): the mean of log f as the
meta-loss (:func:`.meta_loss.unroll`), a cosine meta-learning-rate schedule
(:func:`.meta_step.meta_optimizer`) and checking an exponential moving average of the
weights instead of the iterates (``ema``, :func:`meta_train_seeds`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.l2l import optimizee
from hyperlab.l2l.evaluate import LSTM_RUNS_PER_BATCH, run_grid
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_lstm_params, lstm_optimizer
from hyperlab.l2l.meta_loss import LossFn
from hyperlab.l2l.meta_step import MetaState, make_meta_step, meta_optimizer
from hyperlab.progress import Progress, silent

log = logging.getLogger(__name__)


class MetaTrainResult(NamedTuple):
    best_params: object
    best_step: int  # meta-step of the kept weights (0 = untrained)
    best_val: float  # their mean validation loss at the final optimizee step
    history: dict  # per meta-step: meta_loss, grad_norm, skipped; per check: val_loss (+ val_se)
    seconds: float
    n_skipped: int
    best_val_se: float = float("nan")  # standard error of best_val over the validation optimizees


def meta_train(
    key: jax.Array,
    init_fn: Callable[[jax.Array], object],
    loss_fn: LossFn,
    validate: Callable[[object], float],
    **options: Any,
) -> MetaTrainResult:
    """Meta-train the LSTM on optimizees from ``init_fn(key)`` with ``loss_fn``: one seed.

    ``validate(lstm_params) -> float`` (lower is better) is called at meta-step
    0 and every ``val_every`` meta-steps; the best weights are returned.
    ``options``: the keyword arguments of :func:`meta_train_seeds` (``cfg``,
    ``n_steps``, ``unroll_len``, ...), with its defaults; this is its run with
    the one seed ``key``.
    """

    def validate_many(phis):
        phi = jax.tree_util.tree_map(lambda a: a[0], phis)
        return np.asarray([[validate(phi)]], dtype=np.float64)

    (result,) = meta_train_seeds(key[None], init_fn, loss_fn, validate_many, **options)
    return result


def meta_train_seeds(
    keys: jax.Array,
    init_fn: Callable[[jax.Array], object],
    loss_fn: LossFn,
    validate_many: Callable[[object], np.ndarray],
    *,
    cfg: LSTMConfig = LSTMConfig(),
    n_steps: int = 100,
    unroll_len: int = 20,
    meta_steps: int = 200,
    meta_batch: int = 2,
    meta_lr: float = 3e-3,
    clip_norm: float = 1.0,
    val_every: int = 10,
    objective: str = "mean",
    schedule: str = "constant",
    ema: float = 0.0,
    progress: Progress = silent,
) -> list[MetaTrainResult]:
    """Meta-train one LSTM per key in ``keys`` (shape ``(S,)``), all seeds in one compiled meta-step.

    ``validate_many(stacked lstm_params) -> (S, runs)`` array of final losses
    on fixed validation optimizees (non-finite: that run diverged). A check's
    value is the mean over runs (inf if any diverged); its standard error,
    std / sqrt(runs), is recorded beside it. Seed ``s`` gives exactly the
    result of a single-seed run with ``keys[s]``. ``objective``: see
    :func:`.meta_loss.unroll`; ``schedule``: :func:`.meta_step.meta_optimizer`; ``ema > 0``: the
    weights checked (and kept) are avg_i = ema avg_{i-1} + (1 - ema) phi_i,
    avg_0 = phi_0, instead of the iterates phi_i.
    """
    if n_steps % unroll_len:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of unroll ({unroll_len})")
    n_seeds = keys.shape[0]
    unrolls_per_run = n_steps // unroll_len
    programs = _programs(
        init_fn, loss_fn, cfg, meta_batch, unroll_len, meta_lr, clip_norm, meta_steps, schedule, objective
    )
    split2 = jax.vmap(jax.random.split)
    k_phi, k_loop = (lambda ks: (ks[:, 0], ks[:, 1]))(split2(keys))
    phi = jax.vmap(lambda k: init_lstm_params(k, cfg))(k_phi)
    meta = MetaState(phi, jax.vmap(programs.meta_opt.init)(phi))
    meta_step, next_keys, refresh, template = (
        programs.meta_step,
        programs.next_keys,
        programs.refresh,
        programs.template,
    )

    def check(phis):
        runs = np.asarray(validate_many(phis), dtype=np.float64).reshape(n_seeds, -1)
        ok = np.isfinite(runs).all(axis=1)
        mean = np.where(ok, runs.mean(axis=1), np.inf)
        se = np.where(ok, runs.std(axis=1, ddof=1) / np.sqrt(runs.shape[1]) if runs.shape[1] > 1 else 0.0, np.nan)
        return mean, se

    # Polyak averaging: the checked (and kept) weights are an exponential moving average of the iterates.
    averaged = phi

    t0 = time.perf_counter()
    val0, se0 = check(phi)
    best = [(float(val0[s]), 0, float(se0[s])) for s in range(n_seeds)]
    best_params = phi
    history: list[dict[str, list]] = [
        {
            "meta_loss": [],
            "grad_norm": [],
            "skipped": [],
            "val_step": [0],
            "val_loss": [float(val0[s])],
            "val_se": [float(se0[s])],
        }
        for s in range(n_seeds)
    ]
    n_skipped = np.zeros(n_seeds, dtype=int)
    params = opt_state = None
    reset = np.ones(n_seeds, dtype=bool)
    for i in progress(range(meta_steps), desc="meta-train"):
        k_loop, k_fresh, k_unroll = next_keys(k_loop)
        if i % unrolls_per_run == 0:
            reset[:] = True
        if params is None:
            params = jax.vmap(lambda k: jax.vmap(init_fn)(jax.random.split(k, meta_batch)))(k_fresh)
            opt_state = jax.vmap(jax.vmap(template.init))(params)
        if reset.any():
            params, opt_state = refresh(k_fresh, params, opt_state, jnp.asarray(reset))
        meta, params, opt_state, loss, gnorm, ok = meta_step(meta, params, opt_state, k_unroll)
        averaged = meta.lstm_params if not ema else _average(averaged, meta.lstm_params, ema, 1 - ema)
        loss, gnorm, ok = np.asarray(loss), np.asarray(gnorm), np.asarray(ok)
        reset = ~ok  # the runs blew up: start fresh optimizees next meta-step
        for s in range(n_seeds):
            history[s]["meta_loss"].append(float(loss[s]))
            history[s]["grad_norm"].append(float(gnorm[s]))
            history[s]["skipped"].append(not bool(ok[s]))
            if not ok[s]:
                n_skipped[s] += 1
                log.warning("seed %d, meta-step %d: non-finite loss or meta-gradient; update skipped", s, i + 1)
        if (i + 1) % val_every == 0 or i + 1 == meta_steps:
            val, se = check(averaged)
            better = np.asarray([np.isfinite(val[s]) and val[s] < best[s][0] for s in range(n_seeds)])
            for s in range(n_seeds):
                history[s]["val_step"].append(i + 1)
                history[s]["val_loss"].append(float(val[s]))
                history[s]["val_se"].append(float(se[s]))
                if better[s]:
                    best[s] = (float(val[s]), i + 1, float(se[s]))
            if better.any():
                best_params = jax.tree_util.tree_map(
                    lambda new, old: jnp.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
                    averaged,
                    best_params,
                )
            log.info(
                "meta-step %d: meta-loss %s val %s (best %s)",
                i + 1,
                np.round(loss, 4),
                np.round(val, 4),
                [f"{b[0]:.4f}@{b[1]}" for b in best],
            )
    seconds = time.perf_counter() - t0
    return [
        MetaTrainResult(
            jax.tree_util.tree_map(lambda a: a[s], best_params),
            best[s][1],
            best[s][0],
            history[s],
            seconds,
            int(n_skipped[s]),
            best[s][2],
        )
        for s in range(n_seeds)
    ]


class _Programs(NamedTuple):
    meta_opt: Any
    meta_step: Callable
    next_keys: Callable
    refresh: Callable
    template: Any


@functools.lru_cache(maxsize=8)
def _programs(init_fn, loss_fn, cfg, meta_batch, unroll_len, meta_lr, clip_norm, meta_steps, schedule, objective):
    """The compiled pieces of one meta-training setting, built once per process and setting: a second run
    with the same optimizee functions and options (another seed, a rerun) reuses them instead of compiling
    them again. They depend only on their arguments (functions by identity), never on the run's state."""
    meta_opt = meta_optimizer(meta_lr, clip_norm, meta_steps, schedule)
    meta_step = make_meta_step(loss_fn, meta_opt, cfg, objective=objective, over_seeds=True)
    template = lstm_optimizer(None, cfg)  # its init() reads only the config

    @jax.jit
    def next_keys(k_loop):
        ks = jax.vmap(lambda k: jax.random.split(k, 3))(k_loop)
        k_unroll = jax.vmap(
            lambda k: jax.random.split(k, meta_batch * (unroll_len + 1)).reshape(meta_batch, unroll_len + 1)
        )(ks[:, 2])
        return ks[:, 0], ks[:, 1], k_unroll

    @jax.jit
    def refresh(k_fresh, params, opt_state, reset):
        """Fresh optimizees (and zero LSTM state) for the seeds where ``reset``."""

        def one(k, p, s, r):
            new_p = jax.vmap(init_fn)(jax.random.split(k, meta_batch))
            new_s = jax.vmap(template.init)(new_p)
            pick = lambda a, b: jnp.where(r, a, b)  # noqa: E731
            return jax.tree_util.tree_map(pick, new_p, p), jax.tree_util.tree_map(pick, new_s, s)

        return jax.vmap(one)(k_fresh, params, opt_state, reset)

    return _Programs(meta_opt, meta_step, next_keys, refresh, template)


@jax.jit
def _average(avg, new, ema, rest):
    """Polyak averaging: ``ema * avg + rest * new`` leaf by leaf, ``rest = 1 - ema`` (taken in float64, as
    a constant would be folded)."""
    return jax.tree_util.tree_map(lambda a, b: ema * a + rest * b, avg, new)


def mnist_seed_validator(
    x_val: jax.Array,
    y_val: jax.Array,
    spec: optimizee.MLPSpec,
    keys: jax.Array,
    n_steps: int,
    batch_size: int,
    cfg: LSTMConfig,
) -> Callable[[object], np.ndarray]:
    """Per seed and fixed val init (the same for every seed and checkpoint): the full-val-split loss at
    the last step, ``(S, len(keys))``, for LSTM weights stacked over a leading seed axis."""

    def validate_many(phis) -> np.ndarray:
        traj = run_grid(
            "lstm",
            phis,
            keys,
            x_val,
            y_val,
            spec,
            n_steps,
            batch_size,
            cfg,
            record_full=False,
            runs_per_batch=LSTM_RUNS_PER_BATCH,
        )
        return np.asarray(traj.loss[:, :, -1], dtype=np.float64)

    return validate_many
