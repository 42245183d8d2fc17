"""The protocol of the MNIST experiment of Andrychowicz et al. (2016, Sec. 3.2), from ``params.yaml``'s ``l2l`` section.

What runs on which data with which seeds: the splits, the random streams,
meta-training wired to the section (:func:`train`) and the test-split
evaluation (:func:`evaluate`; its tables and verdicts: :mod:`.eval_tables`).

Splits: the LSTM is meta-trained on optimizees fitting the *train* split; its
checkpoint and every baseline's learning rate are chosen by the final loss of
optimizees fitting the *val* split; all reported curves are optimizees fitting
the held-out *test* split, from fresh inits and minibatches that neither
choice saw. Within a setting every optimizer sees the same inits and the same
minibatch sequence (common random numbers), so differences are the optimizers'.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.data import to_float
from hyperlab.l2l import baselines, eval_tables, meta_loss, meta_train, optimizee
from hyperlab.l2l.evaluate import BASELINES, LSTM_RUNS_PER_BATCH, OPTIMIZERS, OptimizeeRun, Trajectory, run_grid
from hyperlab.l2l.lstm_optimizer import LSTMConfig
from hyperlab.l2l.names import BAR_FRACTION
from hyperlab.l2l.names import GENERALIZATION as GENERALIZATION_NAMES
from hyperlab.l2l.recipes import Recipe
from hyperlab.progress import Progress, silent

if TYPE_CHECKING:  # annotations only
    from hyperlab.config import L2LParams
    from hyperlab.l2l.weights import LSTMWeights

log = logging.getLogger(__name__)

# Stream ids for jax.random.fold_in: one independent stream per purpose.
_META, _VAL, _TUNE, _EVAL = 1, 2, 3, 4

#: Generalization settings of the paper's Fig. 5 (the base net is 784-20-10 sigmoid), in the order
#: of their names (:data:`hyperlab.l2l.names.GENERALIZATION`): hidden40, layers2, relu.
GENERALIZATION = dict(
    zip(
        GENERALIZATION_NAMES,
        (
            lambda act: optimizee.MLPSpec((40,), act),
            lambda act: optimizee.MLPSpec((20, 20), act),
            lambda act: optimizee.MLPSpec((20,), "relu"),
        ),
        strict=True,
    )
)


class Split(NamedTuple):
    x: jax.Array
    y: jax.Array


def splits_from_npz(arrays: dict) -> dict[str, Split]:
    """The three splits of ``data/mnist.npz`` (:func:`hyperlab.data.load_npz`) on the device, pixels in [0, 1]."""
    return {
        s: Split(jnp.asarray(to_float(arrays[f"x_{s}"])), jnp.asarray(arrays[f"y_{s}"], dtype=jnp.int32))
        for s in ("train", "val", "test")
    }


def lstm_config(params: L2LParams, recipe: Recipe) -> LSTMConfig:
    return LSTMConfig(params.lstm_hidden, params.lstm_layers, recipe.p, recipe.scale, recipe.preprocess)


def meta_train_settings(
    params: L2LParams, recipe: Recipe, meta_steps: int, snapshots: tuple[int, ...] = ()
) -> meta_train.MetaTrainSettings:
    """The settings of meta-training with ``recipe`` for ``meta_steps`` (the rest from the ``l2l`` section)."""
    return meta_train.MetaTrainSettings(
        cfg=lstm_config(params, recipe),
        n_steps=params.n_steps,
        unroll_len=params.unroll,
        meta_steps=meta_steps,
        meta_batch=recipe.meta_batch,
        meta_lr=recipe.meta_lr,
        clip_norm=recipe.clip_norm,
        val_every=params.val_every,
        objective=params.meta_objective,
        schedule=params.meta_lr_schedule,
        ema=params.meta_ema,
        snapshots=snapshots,
    )


def base_spec(params: L2LParams) -> optimizee.MLPSpec:
    """The optimizee of the base setting (the one meta-training sees)."""
    return optimizee.MLPSpec(tuple(params.hidden), params.activation)


def base_run(params: L2LParams) -> OptimizeeRun:
    """An optimizee run of the base setting as meta-training sees it: ``n_steps`` on minibatches of ``batch_size``."""
    return OptimizeeRun(base_spec(params), params.n_steps, params.batch_size)


def meta_seeds(params: L2LParams, seed: int) -> list[int]:
    """The meta-training seeds: ``seed, seed + 1, ..``; meta-seed ``seed`` alone is the single-seed run."""
    return [seed + s for s in range(params.meta_seeds)]


def tuning_keys(params: L2LParams, seed: int) -> jax.Array:
    """The fixed val-split inits every baseline learning rate is tuned on (the same in every setting)."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), _TUNE), params.tune_runs)


def train(
    params: L2LParams,
    seed: int,
    splits: dict[str, Split],
    settings: meta_train.MetaTrainSettings,
    progress: Progress = silent,
) -> list[meta_train.MetaTrainResult]:
    """Meta-train one LSTM per meta-seed with ``settings`` (:func:`meta_train_settings`); returns a list of
    :class:`meta_train.MetaTrainResult`.

    Meta-seed ``m`` draws its LSTM init, optimizees and minibatches from
    ``key(m)``; every seed's checkpoints are judged on the same fixed
    validation optimizees (drawn from the stage seed).
    """
    spec, train_split, val_split = base_spec(params), splits["train"], splits["val"]
    validate = meta_train.mnist_seed_validator(
        val_split.x,
        val_split.y,
        base_run(params),
        jax.random.split(jax.random.fold_in(jax.random.key(seed), _VAL), params.val_runs),
        settings.cfg,
    )
    keys = jnp.stack([jax.random.fold_in(jax.random.key(m), _META) for m in meta_seeds(params, seed)])
    return meta_train.meta_train_seeds(
        keys,
        lambda k: optimizee.init_theta(k, spec),
        meta_loss.mnist_loss_fn(train_split.x, train_split.y, spec, params.batch_size),
        validate,
        settings,
        progress=progress,
    )


def history_frames(
    results: list[meta_train.MetaTrainResult], unrolls_per_run: int, seeds: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per meta-seed and meta-step (with the unroll's position in its optimizee run), and per
    meta-seed and validation check (mean and standard error over the validation optimizees)."""
    steps, val = [], []
    for seed, result in zip(seeds, results):
        h = result.history
        i = np.arange(1, len(h["meta_loss"]) + 1)
        steps.append(
            pd.DataFrame(
                {
                    "meta_seed": seed,
                    "meta_step": i,
                    "unroll": (i - 1) % unrolls_per_run,
                    "meta_loss": h["meta_loss"],
                    "meta_grad_norm": h["grad_norm"],
                    "skipped": np.asarray(h["skipped"], int),
                }
            )
        )
        val.append(
            pd.DataFrame(
                {"meta_seed": seed, "meta_step": h["val_step"], "val_loss": h["val_loss"], "val_se": h["val_se"]}
            )
        )
    return pd.concat(steps, ignore_index=True), pd.concat(val, ignore_index=True)


class Evaluation(NamedTuple):
    curves: pd.DataFrame  # setting, optimizer, step, {loss,grad_norm,param_norm}_{mean,lo,hi}
    final: pd.DataFrame  # setting, optimizer, step, lr, final_{mean,std,lo,hi}; lstm_s<m>: wins_vs_<baseline>
    tuning: pd.DataFrame  # setting, optimizer, lr, val_final_loss
    metrics: dict


def evaluation_settings(params: L2LParams) -> list[tuple[str, optimizee.MLPSpec, int]]:
    """``(name, optimizee, steps)`` of every setting evaluated: ``base`` for ``long_steps``, then each of
    ``l2l.generalization`` for ``n_steps``."""
    settings = [("base", base_spec(params), params.long_steps)]
    settings += [(name, GENERALIZATION[name](params.activation), params.n_steps) for name in params.generalization]
    return settings


def _checkpoints(params: L2LParams, setting: str, steps: int) -> list[tuple[str, int]]:
    """``(label, step)`` summarized in a setting: the meta-training horizon ``n_steps``, and for the base
    setting run longer also its last step (label ``steps<long_steps>``)."""
    out = [(setting, params.n_steps)]
    if setting == "base" and steps > params.n_steps:
        out.append((f"steps{steps}", steps))
    return out


def _tune(
    params: L2LParams, setting: str, spec: optimizee.MLPSpec, val: Split, keys: jax.Array
) -> tuple[dict[str, float], list[pd.DataFrame]]:
    """Each baseline's learning rate for the optimizee ``spec``, tuned on val from ``keys`` at the
    meta-training horizon, and the rows of ``lr_tuning.csv``."""
    grid = np.asarray(params.lr_grid, dtype=np.float64)
    tuned = baselines.tune_lrs(grid, keys, val.x, val.y, OptimizeeRun(spec, params.n_steps, params.batch_size))
    rows = [
        pd.DataFrame({"setting": setting, "optimizer": name, "lr": grid, "val_final_loss": mean})
        for name, (_, mean) in tuned.items()
    ]
    return {name: lr for name, (lr, _) in tuned.items()}, rows


def _test_trajectories(
    run: OptimizeeRun, keys: jax.Array, test: Split, lrs: dict[str, float], lstms: LSTMWeights
) -> dict[str, Trajectory]:
    """Every optimizer's ``run`` from each of ``keys`` on the test split, as numpy arrays: the baselines at
    the learning rates ``lrs``, each meta-seed's LSTM (``lstm_s<m>``) and all meta-seeds' runs pooled
    (``lstm``). Every optimizer starts from the same inits and sees the same minibatches (paired runs)."""
    hparams = baselines.hparams(BASELINES, [lrs[n] for n in BASELINES])
    grid_traj = run_grid("baseline", hparams, keys, test.x, test.y, run, None)
    trajs = {name: jax.tree_util.tree_map(lambda a: np.asarray(a[j]), grid_traj) for j, name in enumerate(BASELINES)}
    lstm = run_grid("lstm", lstms.phi, keys, test.x, test.y, run, lstms.cfg, runs_per_batch=LSTM_RUNS_PER_BATCH)
    lstm = jax.tree_util.tree_map(np.asarray, lstm)
    for s, m in enumerate(lstms.meta_seeds):
        trajs[f"lstm_s{m}"] = jax.tree_util.tree_map(lambda a: a[s], lstm)
    trajs["lstm"] = jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), lstm)
    return trajs


def evaluate(
    params: L2LParams, seed: int, splits: dict[str, Split], lstms: LSTMWeights, progress: Progress = silent
) -> Evaluation:
    """Tune the baselines on val, then run every optimizer ``eval_runs`` times on test, per setting.

    ``lstms.phi`` are stacked over a leading axis of meta-seeds
    (``lstms.meta_seeds``); every meta-seed's LSTM runs from the same inits and
    minibatches as the baselines (paired runs). Curves: ``lstm`` pools every
    seed's runs, ``lstm_s<m>`` is meta-seed ``m`` alone.
    """
    key, seeds = jax.random.key(seed), lstms.meta_seeds
    tune_keys = tuning_keys(params, seed)
    curves, finals, tuning = [], [], []
    results: dict[str, dict] = {}
    for i, (setting, spec, steps) in enumerate(progress(evaluation_settings(params), desc="l2l settings")):
        eval_keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, _EVAL), i), params.eval_runs)
        lrs, frames = _tune(params, setting, spec, splits["val"], tune_keys)
        tuning += frames
        run = OptimizeeRun(spec, steps, params.batch_size, every=params.record_every)
        trajs = _test_trajectories(run, eval_keys, splits["test"], lrs, lstms)
        lrs.update({name: np.nan for name in trajs if name not in lrs})  # the LSTMs have no learning rate
        names = [*OPTIMIZERS, *(f"lstm_s{m}" for m in seeds)]
        for name in names:
            curves.append(eval_tables.curve_rows(setting, name, trajs[name], params.record_every))
            log.info(
                "%s/%s: lr %s, final test-split loss %.4f",
                setting,
                name,
                lrs[name],
                float(np.mean(trajs[name].loss[:, -1])),
            )
        for label, step in _checkpoints(params, setting, steps):
            at = step // params.record_every
            rows, results[label] = eval_tables.checkpoint_summary(
                label, step, {n: np.asarray(trajs[n].loss[:, at]) for n in names}, lrs, seeds
            )
            finals += rows
    metrics = {
        "settings": results,
        "eval_runs": params.eval_runs,
        "split": "test",
        "meta_seeds": list(seeds),
        "bar": f"LSTM below each tuned baseline in >= {BAR_FRACTION:.0%} of paired runs, every meta-seed",
        "tune_runs_per_lr": params.tune_runs,
        "lr_grid_points": len(params.lr_grid),
    }
    return Evaluation(
        pd.concat(curves, ignore_index=True), pd.DataFrame(finals), pd.concat(tuning, ignore_index=True), metrics
    )
