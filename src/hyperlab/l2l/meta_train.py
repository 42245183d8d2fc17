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

from hyperlab.l2l.evaluate import LSTM_RUNS_PER_BATCH, OptimizeeRun, run_grid
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_phi, lstm_optimizer
from hyperlab.l2l.meta_loss import LossFn, UnrollSettings
from hyperlab.l2l.meta_step import MetaState, make_meta_step, meta_optimizer
from hyperlab.progress import Progress, silent

log = logging.getLogger(__name__)


class MetaTrainSettings(NamedTuple):
    """One meta-training run's settings: the ``l2l`` section's values and a recipe's (:mod:`.recipes`)."""

    cfg: LSTMConfig
    n_steps: int  # optimizee steps per run
    unroll_len: int  # optimizee steps per truncated unroll (divides n_steps)
    meta_steps: int
    meta_batch: int
    meta_lr: float
    clip_norm: float | None
    val_every: int  # meta-steps between two validation checks
    objective: str  # :func:`.meta_loss.unroll`
    schedule: str  # :func:`.meta_step.meta_optimizer`
    ema: float  # > 0: the weights checked (and kept) are an exponential moving average of the iterates
    snapshots: tuple[int, ...] = ()  # meta-steps after which the kept weights are copied out


class MetaTrainResult(NamedTuple):
    best_phi: object  # the LSTM weights kept
    best_step: int  # meta-step of the kept weights (0 = untrained)
    best_val: float  # their mean validation loss at the final optimizee step
    history: dict  # per meta-step: meta_loss, grad_norm, skipped; per check: val_loss (+ val_se)
    seconds: float
    n_skipped: int
    best_val_se: float  # standard error of best_val over the validation optimizees
    snapshots: dict  # meta-step -> (the weights kept at that meta-step, their meta-step)


def meta_train(
    key: jax.Array,
    init_fn: Callable[[jax.Array], object],
    loss_fn: LossFn,
    validate: Callable[[object], float],
    settings: MetaTrainSettings,
    progress: Progress = silent,
) -> MetaTrainResult:
    """Meta-train the LSTM on optimizees from ``init_fn(key)`` with ``loss_fn``: one seed.

    ``validate(phi) -> float`` (lower is better) is called at meta-step
    0 and every ``val_every`` meta-steps; the best weights are returned. This is
    :func:`meta_train_seeds` with the one seed ``key``.
    """

    def validate_many(phis):
        phi = jax.tree_util.tree_map(lambda a: a[0], phis)
        return np.asarray([[validate(phi)]], dtype=np.float64)

    (result,) = meta_train_seeds(key[None], init_fn, loss_fn, validate_many, settings, progress)
    return result


class _Kept:
    """Per seed: the validation history, the best check so far and its weights, and the snapshots."""

    def __init__(self, validate_many: Callable[[object], np.ndarray], phi, n_seeds: int):
        self.validate_many, self.n_seeds = validate_many, n_seeds
        val, se = self.check(phi)
        self.best = [(float(val[s]), 0, float(se[s])) for s in range(n_seeds)]
        self.phi = phi  # per seed: the weights of its best check so far
        self.history: list[dict[str, list]] = [
            {
                "meta_loss": [],
                "grad_norm": [],
                "skipped": [],
                "val_step": [0],
                "val_loss": [float(val[s])],
                "val_se": [float(se[s])],
            }
            for s in range(n_seeds)
        ]
        self.snapshots: list[dict[int, tuple[object, int]]] = [{} for _ in range(n_seeds)]

    def check(self, phis) -> tuple[np.ndarray, np.ndarray]:
        """Mean final validation loss per seed (inf if any run diverged) and its standard error."""
        runs = np.asarray(self.validate_many(phis), dtype=np.float64).reshape(self.n_seeds, -1)
        ok = np.isfinite(runs).all(axis=1)
        mean = np.where(ok, runs.mean(axis=1), np.inf)
        spread = runs.std(axis=1, ddof=1) / np.sqrt(runs.shape[1]) if runs.shape[1] > 1 else 0.0
        return mean, np.where(ok, spread, np.nan)

    def record_step(self, step: int, loss, gnorm, ok) -> int:
        """Log one meta-step's loss, meta-gradient norm and skip; returns the number skipped."""
        for s in range(self.n_seeds):
            self.history[s]["meta_loss"].append(float(loss[s]))
            self.history[s]["grad_norm"].append(float(gnorm[s]))
            self.history[s]["skipped"].append(not bool(ok[s]))
            if not ok[s]:
                log.warning("seed %d, meta-step %d: non-finite loss or meta-gradient; update skipped", s, step)
        return int(np.sum(~ok))

    def validate(self, step: int, phis) -> np.ndarray:
        """A check of ``phis`` after ``step`` meta-steps: keeps each seed's weights if they are its best."""
        val, se = self.check(phis)
        better = np.asarray([np.isfinite(val[s]) and val[s] < self.best[s][0] for s in range(self.n_seeds)])
        for s in range(self.n_seeds):
            self.history[s]["val_step"].append(step)
            self.history[s]["val_loss"].append(float(val[s]))
            self.history[s]["val_se"].append(float(se[s]))
            if better[s]:
                self.best[s] = (float(val[s]), step, float(se[s]))
        if better.any():
            self.phi = jax.tree_util.tree_map(
                lambda new, old: jnp.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old), phis, self.phi
            )
        return val

    def snapshot(self, step: int) -> None:
        for s in range(self.n_seeds):
            self.snapshots[s][step] = (jax.tree_util.tree_map(lambda a: a[s], self.phi), self.best[s][1])


def meta_train_seeds(
    keys: jax.Array,
    init_fn: Callable[[jax.Array], object],
    loss_fn: LossFn,
    validate_many: Callable[[object], np.ndarray],
    settings: MetaTrainSettings,
    progress: Progress = silent,
) -> list[MetaTrainResult]:
    """Meta-train one LSTM per key in ``keys`` (shape ``(S,)``), all seeds in one compiled meta-step.

    ``validate_many(phi stacked over seeds) -> (S, runs)`` array of final losses
    on fixed validation optimizees (non-finite: that run diverged). A check's
    value is the mean over runs (inf if any diverged); its standard error,
    std / sqrt(runs), is recorded beside it. Seed ``s`` gives exactly the
    result of a single-seed run with ``keys[s]``. With ``settings.ema > 0`` the
    weights checked (and kept) are avg_i = ema avg_{i-1} + (1 - ema) phi_i,
    avg_0 = phi_0, instead of the iterates phi_i. After each meta-step in
    ``settings.snapshots`` the weights kept so far are copied out: the result
    of a shorter meta-training with the same seed, without running it again.
    """
    st = settings
    if st.n_steps % st.unroll_len:
        raise ValueError(f"n_steps ({st.n_steps}) must be a multiple of unroll ({st.unroll_len})")
    if any(not 1 <= b <= st.meta_steps for b in st.snapshots):
        raise ValueError(f"snapshots {list(st.snapshots)} must lie in 1..meta_steps ({st.meta_steps})")
    n_seeds = keys.shape[0]
    programs = _programs(init_fn, loss_fn, st._replace(val_every=0, ema=0.0, snapshots=()))
    k_phi, k_loop = (lambda ks: (ks[:, 0], ks[:, 1]))(jax.vmap(jax.random.split)(keys))
    phi = jax.vmap(lambda k: init_phi(k, st.cfg))(k_phi)
    meta = MetaState(phi, jax.vmap(programs.meta_opt.init)(phi))
    averaged = phi  # Polyak averaging: the checked (and kept) weights are an average of the iterates
    t0 = time.perf_counter()
    kept = _Kept(validate_many, phi, n_seeds)
    n_skipped = np.zeros(n_seeds, dtype=int)
    theta = opt_state = None  # per seed and optimizee: its weights and LSTM state, carried across unrolls
    reset = np.ones(n_seeds, dtype=bool)
    for i in progress(range(st.meta_steps), desc="meta-train"):
        k_loop, k_fresh, k_unroll = programs.next_keys(k_loop)
        if i % (st.n_steps // st.unroll_len) == 0:
            reset[:] = True
        if theta is None:
            theta = jax.vmap(lambda k: jax.vmap(init_fn)(jax.random.split(k, st.meta_batch)))(k_fresh)
            opt_state = jax.vmap(jax.vmap(programs.template.init))(theta)
        if reset.any():
            theta, opt_state = programs.refresh(k_fresh, theta, opt_state, jnp.asarray(reset))
        meta, theta, opt_state, loss, gnorm, ok = programs.meta_step(meta, theta, opt_state, k_unroll)
        averaged = meta.phi if not st.ema else _average(averaged, meta.phi, st.ema, 1 - st.ema)
        ok = np.asarray(ok)
        kept.record_step(i + 1, np.asarray(loss), np.asarray(gnorm), ok)
        n_skipped += ~ok
        reset = ~ok  # the runs blew up: start fresh optimizees next meta-step
        if (i + 1) % st.val_every == 0 or i + 1 == st.meta_steps or i + 1 in st.snapshots:
            val = kept.validate(i + 1, averaged)
            log.info(
                "meta-step %d: meta-loss %s val %s (best %s)",
                i + 1,
                np.round(np.asarray(loss), 4),
                np.round(val, 4),
                [f"{b[0]:.4f}@{b[1]}" for b in kept.best],
            )
        if i + 1 in st.snapshots:
            kept.snapshot(i + 1)
    seconds = time.perf_counter() - t0
    return [
        MetaTrainResult(
            jax.tree_util.tree_map(lambda a: a[s], kept.phi),
            kept.best[s][1],
            kept.best[s][0],
            kept.history[s],
            seconds,
            int(n_skipped[s]),
            kept.best[s][2],
            kept.snapshots[s],
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
def _programs(init_fn, loss_fn, settings: MetaTrainSettings) -> _Programs:
    """The compiled pieces of one meta-training setting, built once per process and setting: a second run
    with the same optimizee functions and settings (another seed, a rerun) reuses them instead of compiling
    them again. They depend only on their arguments (functions by identity), never on the run's state."""
    st = settings
    meta_opt = meta_optimizer(st.meta_lr, st.clip_norm, st.meta_steps, st.schedule)
    meta_step = make_meta_step(loss_fn, meta_opt, UnrollSettings(st.cfg, st.objective), over_seeds=True)
    template = lstm_optimizer(None, st.cfg)  # its init() reads only the config
    meta_batch, unroll_len = st.meta_batch, st.unroll_len

    @jax.jit
    def next_keys(k_loop):
        ks = jax.vmap(lambda k: jax.random.split(k, 3))(k_loop)
        k_unroll = jax.vmap(
            lambda k: jax.random.split(k, meta_batch * (unroll_len + 1)).reshape(meta_batch, unroll_len + 1)
        )(ks[:, 2])
        return ks[:, 0], ks[:, 1], k_unroll

    @jax.jit
    def refresh(k_fresh, theta, opt_state, reset):
        """Fresh optimizees (and zero LSTM state) for the seeds where ``reset``."""

        def one(k, t, s, r):
            new_t = jax.vmap(init_fn)(jax.random.split(k, meta_batch))
            new_s = jax.vmap(template.init)(new_t)
            pick = lambda a, b: jnp.where(r, a, b)  # noqa: E731
            return jax.tree_util.tree_map(pick, new_t, t), jax.tree_util.tree_map(pick, new_s, s)

        return jax.vmap(one)(k_fresh, theta, opt_state, reset)

    return _Programs(meta_opt, meta_step, next_keys, refresh, template)


@jax.jit
def _average(avg, new, ema, rest):
    """Polyak averaging: ``ema * avg + rest * new`` leaf by leaf, ``rest = 1 - ema`` (taken in float64, as
    a constant would be folded)."""
    return jax.tree_util.tree_map(lambda a, b: ema * a + rest * b, avg, new)


def mnist_seed_validator(
    x_val: jax.Array, y_val: jax.Array, run: OptimizeeRun, keys: jax.Array, cfg: LSTMConfig
) -> Callable[[object], np.ndarray]:
    """Per seed and fixed val init (the same for every seed and checkpoint): the full-val-split loss at
    the last step of ``run``, ``(S, len(keys))``, for LSTM weights stacked over a leading seed axis."""

    def validate_many(phis) -> np.ndarray:
        traj = run_grid("lstm", phis, keys, x_val, y_val, run.final_only(), cfg, runs_per_batch=LSTM_RUNS_PER_BATCH)
        return np.asarray(traj.loss[:, :, -1], dtype=np.float64)

    return validate_many
