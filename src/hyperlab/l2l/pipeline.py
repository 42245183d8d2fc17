"""The MNIST experiment of Andrychowicz et al. (2016, Sec. 3.2) from ``params.yaml``'s ``l2l`` section.

Splits: the LSTM is meta-trained on optimizees fitting the *train* split; its
checkpoint and every baseline's learning rate are chosen by the final loss of
optimizees fitting the *val* split; all reported curves are optimizees fitting
the held-out *test* split, from fresh inits and minibatches that neither
choice saw. Within a setting every optimizer sees the same inits and the same
minibatch sequence (common random numbers), so differences are the optimizers'.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.data import to_float
from hyperlab.l2l import baselines, meta_loss, meta_train, optimizee
from hyperlab.l2l.evaluate import BASELINES, LSTM_RUNS_PER_BATCH, OPTIMIZERS, run_grid, summarize
from hyperlab.l2l.lstm_optimizer import LSTMConfig
from hyperlab.l2l.names import GENERALIZATION as GENERALIZATION_NAMES
from hyperlab.progress import Progress, silent

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


def lstm_config(params) -> LSTMConfig:
    return LSTMConfig(params.lstm_hidden, params.lstm_layers, params.preprocess_p, params.output_scale)


def base_spec(params) -> optimizee.MLPSpec:
    return optimizee.MLPSpec(tuple(params.hidden), params.activation)


def meta_seeds(params, seed: int) -> list[int]:
    """The meta-training seeds: ``seed, seed + 1, ..``; meta-seed ``seed`` alone is the single-seed run."""
    return [seed + s for s in range(params.meta_seeds)]


def tuning_keys(params, seed: int) -> jax.Array:
    """The fixed val-split inits every baseline learning rate is tuned on (the same in every setting)."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), _TUNE), params.tune_runs)


def train(params, seed: int, splits: dict[str, Split], progress: Progress = silent):
    """Meta-train one LSTM per meta-seed (vmapped); returns a list of :class:`meta_train.MetaTrainResult`.

    Meta-seed ``m`` draws its LSTM init, optimizees and minibatches from
    ``key(m)``; every seed's checkpoints are judged on the same fixed
    validation optimizees (drawn from the stage seed).
    """
    spec, cfg = base_spec(params), lstm_config(params)
    train_split, val_split = splits["train"], splits["val"]
    validate = meta_train.mnist_seed_validator(
        val_split.x,
        val_split.y,
        spec,
        jax.random.split(jax.random.fold_in(jax.random.key(seed), _VAL), params.val_runs),
        params.n_steps,
        params.batch_size,
        cfg,
    )
    keys = jnp.stack([jax.random.fold_in(jax.random.key(m), _META) for m in meta_seeds(params, seed)])
    return meta_train.meta_train_seeds(
        keys,
        lambda k: optimizee.init_params(k, spec),
        meta_loss.mnist_loss_fn(train_split.x, train_split.y, spec, params.batch_size),
        validate,
        cfg=cfg,
        n_steps=params.n_steps,
        unroll_len=params.unroll,
        meta_steps=params.meta_steps,
        meta_batch=params.meta_batch,
        meta_lr=params.meta_lr,
        clip_norm=params.clip_norm,
        val_every=params.val_every,
        objective=params.meta_objective,
        schedule=params.meta_lr_schedule,
        ema=params.meta_ema,
        progress=progress,
    )


def history_frames(results, unrolls_per_run: int, seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def _curve_rows(setting: str, name: str, traj, every: int) -> pd.DataFrame:
    n = traj.param_norm.shape[1]
    steps = np.arange(n)
    cols = {"setting": setting, "optimizer": name, "step": steps}
    for field in ("loss", "grad_norm", "param_norm"):
        values = np.asarray(getattr(traj, field))
        full = np.full((values.shape[0], n), np.nan)
        if field == "loss":  # recorded every `every` steps
            full[:, ::every] = values
        else:  # gradients exist for steps 0..T-1 only
            full[:, : values.shape[1]] = values
        for stat, arr in summarize(full).items():
            if stat != "std":
                cols[f"{field}_{stat}"] = arr
    return pd.DataFrame(cols)


#: The bar of the reproduction: the LSTM beats a tuned baseline in at least this fraction of paired runs.
BAR_FRACTION = 0.75


def checkpoint_summary(
    label: str, step: int, loss_at: dict[str, np.ndarray], lrs: dict[str, float], seeds: list[int]
) -> tuple[list[dict], dict]:
    """The rows of ``final.csv`` and the report entry of one checkpoint (a setting at a step).

    ``loss_at``: per optimizer of :data:`OPTIMIZERS` and per meta-seed
    ``lstm_s<m>``, the loss of each paired run at ``step`` (run ``r`` of every
    optimizer started from the same init and saw the same minibatches), in
    that order; ``lrs``: the tuned learning rates (NaN for the LSTMs). A win
    is a paired run where the LSTM's loss is strictly below the baseline's.
    """
    names = [*OPTIMIZERS, *(f"lstm_s{m}" for m in seeds)]
    res: dict[str, Any]
    rows, res = [], {}
    for name in names:
        final = loss_at[name]
        s = summarize(final[:, None])
        row = {
            "setting": label,
            "optimizer": name,
            "step": step,
            "lr": lrs[name],
            "final_mean": s["mean"][0],
            "final_std": s["std"][0],
            "final_lo": s["lo"][0],
            "final_hi": s["hi"][0],
        }
        if name.startswith("lstm_s"):  # paired wins of one meta-seed against each tuned baseline
            row.update({f"wins_vs_{b}": int(np.sum(final < loss_at[b])) for b in BASELINES})
        rows.append(row)
        if not name.startswith("lstm_s"):
            res[name] = {"loss": float(s["mean"][0]), "std": float(s["std"][0])}
            if name != "lstm":
                res[name]["lr"] = float(lrs[name])
    best_baseline = min(BASELINES, key=lambda n: res[n]["loss"])
    adam, best = loss_at["adam"], loss_at[best_baseline]
    per_seed: dict[str, dict[str, Any]] = {}
    for m in seeds:
        mine = loss_at[f"lstm_s{m}"]
        wins = {b: int(np.sum(mine < loss_at[b])) for b in BASELINES}
        per_seed[str(m)] = {
            "loss": float(mine.mean()),
            "std": float(mine.std()),
            "minus_best_baseline": float(np.mean(mine - best)),
            "wins": wins,
            "min_wins": min(wins.values()),
            "reaches_bar": bool(min(wins.values()) >= BAR_FRACTION * len(mine)),
        }
    means = np.asarray([v["loss"] for v in per_seed.values()])
    res["lstm_seeds"] = per_seed
    res["lstm_seed_spread"] = {
        "min": float(means.min()),
        "max": float(means.max()),
        "std": float(means.std(ddof=1)) if len(seeds) > 1 else 0.0,
    }
    pooled = np.stack([loss_at[f"lstm_s{m}"] for m in seeds])  # (seeds, runs)
    res["lstm_minus_adam"] = float(np.mean(pooled - adam))
    res["lstm_beats_adam"] = bool(np.mean(pooled) < np.mean(adam))
    res["lstm_wins_vs_adam_fraction"] = float(np.mean(pooled < adam))
    res["best_baseline"] = best_baseline
    res["lstm_beats_all_baselines"] = bool((means < res[best_baseline]["loss"]).all())
    res["lstm_minus_best_baseline"] = float(np.mean(pooled - best))
    res["lstm_wins_vs_best_baseline_fraction"] = float(np.mean(pooled < best))
    res["min_wins_vs_every_baseline"] = int(min(v["min_wins"] for v in per_seed.values()))
    res["seeds_reaching_bar"] = int(sum(v["reaches_bar"] for v in per_seed.values()))
    return rows, res


def evaluate(
    params,
    seed: int,
    splits: dict[str, Split],
    lstm_params,
    cfg: LSTMConfig,
    seeds: list[int],
    progress: Progress = silent,
) -> Evaluation:
    """Tune the baselines on val, then run every optimizer ``eval_runs`` times on test, per setting.

    ``lstm_params`` are stacked over a leading axis of meta-seeds (``seeds``);
    every meta-seed's LSTM runs from the same inits and minibatches as the
    baselines (paired runs). Curves: ``lstm`` pools every seed's runs,
    ``lstm_s<m>`` is meta-seed ``m`` alone.
    """
    key = jax.random.key(seed)
    base = base_spec(params)
    settings = [("base", base, params.long_steps)]
    settings += [(name, GENERALIZATION[name](params.activation), params.n_steps) for name in params.generalization]
    grid = np.asarray(params.lr_grid, dtype=np.float64)
    val, test = splits["val"], splits["test"]
    tune_keys = tuning_keys(params, seed)
    curves, finals, tuning = [], [], []
    results: dict[str, dict] = {}
    for i, (setting, spec, steps) in enumerate(progress(settings, desc="l2l settings")):
        eval_keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, _EVAL), i), params.eval_runs)
        tuned = baselines.tune_lrs(grid, tune_keys, val.x, val.y, spec, params.n_steps, params.batch_size)
        lrs = {name: lr for name, (lr, _) in tuned.items()}
        for name, (_, mean) in tuned.items():
            tuning.append(pd.DataFrame({"setting": setting, "optimizer": name, "lr": grid, "val_final_loss": mean}))

        def on_test(name: str, hparams, optimizer_cfg: LSTMConfig | None, runs_per_batch: int | None = None):
            """Every run of this setting's evaluation keys, on the test split (every ``record_every`` steps)."""
            return run_grid(
                name,
                hparams,
                eval_keys,
                test.x,
                test.y,
                spec,
                steps,
                params.batch_size,
                optimizer_cfg,
                every=params.record_every,
                runs_per_batch=runs_per_batch,
            )

        grid_traj = on_test("baseline", baselines.hparams(BASELINES, [lrs[n] for n in BASELINES]), None)
        trajs = {
            name: jax.tree_util.tree_map(lambda a: np.asarray(a[j]), grid_traj) for j, name in enumerate(BASELINES)
        }
        lstm = jax.tree_util.tree_map(np.asarray, on_test("lstm", lstm_params, cfg, LSTM_RUNS_PER_BATCH))
        for s, m in enumerate(seeds):
            trajs[f"lstm_s{m}"] = jax.tree_util.tree_map(lambda a: a[s], lstm)
            lrs[f"lstm_s{m}"] = np.nan
        trajs["lstm"] = jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), lstm)
        lrs["lstm"] = np.nan
        names = [*OPTIMIZERS, *(f"lstm_s{m}" for m in seeds)]
        for name in names:
            curves.append(_curve_rows(setting, name, trajs[name], params.record_every))
            log.info(
                "%s/%s: lr %s, final test-split loss %.4f",
                setting,
                name,
                lrs[name],
                float(np.mean(trajs[name].loss[:, -1])),
            )
        checkpoints = [(setting, params.n_steps)]
        if setting == "base" and steps > params.n_steps:
            checkpoints.append((f"steps{steps}", steps))
        for label, step in checkpoints:
            at = step // params.record_every
            rows, results[label] = checkpoint_summary(label, step, {n: trajs[n].loss[:, at] for n in names}, lrs, seeds)
            finals += rows
    metrics = {
        "settings": results,
        "eval_runs": params.eval_runs,
        "split": "test",
        "meta_seeds": list(seeds),
        "bar": f"LSTM below each tuned baseline in >= {BAR_FRACTION:.0%} of paired runs, every meta-seed",
        "tune_runs_per_lr": params.tune_runs,
        "lr_grid_points": len(grid),
    }
    return Evaluation(
        pd.concat(curves, ignore_index=True), pd.DataFrame(finals), pd.concat(tuning, ignore_index=True), metrics
    )
