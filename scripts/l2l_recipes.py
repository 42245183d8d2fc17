"""Meta-training recipes compared on the validation split only (how the l2l defaults were chosen).

    python scripts/l2l_recipes.py                                   # the defaults of params.yaml
    python scripts/l2l_recipes.py meta_steps=140 meta_ema=0.9       # any l2l keys, overridden

Meta-trains every meta-seed as ``l2l_train`` does (``params.yaml``'s ``l2l``
section with the overrides), then runs each seed's kept LSTM and NAG -- its
learning rate tuned on the val split as the ``l2l`` stage tunes it -- on 20
fresh val-split optimizees that neither the checkpoint choice nor the tuning
saw (paired: same inits and minibatches). Prints one JSON line: per seed the
kept meta-step, its selection value, its loss on the fresh optimizees and its
wins against NAG, and the meta-validation curve. The test split is never
touched, so choosing a recipe by these numbers leaks nothing into the
``l2l`` stage's results. One recipe takes ~6 min on 2 cores.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np

from hyperlab import config
from hyperlab.data import load_npz
from hyperlab.l2l import baselines, pipeline
from hyperlab.l2l.evaluate import BASELINES, LSTM_RUNS_PER_BATCH, run_grid

FRESH_RUNS = 20
_FRESH = 99  # jax.random.fold_in stream of the fresh val optimizees (the pipeline's streams are 1..4)


def main(argv: list[str]) -> None:
    overrides = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            sys.exit(f"error: {arg!r}: give l2l overrides as key=value")
        try:
            overrides[key] = config.parse_yaml(value, f"override {key}")  # YAML 1.2, as params.yaml is read
        except config.ConfigError as err:
            sys.exit(f"error: {err}")
    try:
        params = config.parse_section(config.L2LParams, {**config.read_params().get("l2l", {}), **overrides}, "l2l")
    except config.ConfigError as err:
        sys.exit(f"error: {err}")
    seed = config.load_common().seed
    splits = pipeline.splits_from_npz(load_npz("data/mnist.npz"))
    t0 = time.perf_counter()
    results = pipeline.train(params, seed, splits)
    seconds = time.perf_counter() - t0

    val, spec, cfg = splits["val"], pipeline.base_spec(params), pipeline.lstm_config(params)
    key = jax.random.key(seed)
    tuned = baselines.tune_lrs(
        np.asarray(params.lr_grid),
        pipeline.tuning_keys(params, seed),
        val.x,
        val.y,
        spec,
        params.n_steps,
        params.batch_size,
    )
    fresh = jax.random.split(jax.random.fold_in(key, _FRESH), FRESH_RUNS)
    nag_lr = tuned["nag"][0]
    nag = np.asarray(
        run_grid(
            "baseline",
            baselines.hparams(["nag"], [nag_lr]),
            fresh,
            val.x,
            val.y,
            spec,
            params.n_steps,
            params.batch_size,
            None,
            record_full=False,
        ).loss[0, :, -1]
    )
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *(r.best_params for r in results))
    lstm = np.asarray(
        run_grid(
            "lstm",
            stacked,
            fresh,
            val.x,
            val.y,
            spec,
            params.n_steps,
            params.batch_size,
            cfg,
            record_full=False,
            runs_per_batch=LSTM_RUNS_PER_BATCH,
        ).loss[:, :, -1]
    )
    out = {
        "overrides": overrides,
        "meta_train_seconds": round(seconds, 1),
        "nag_lr": nag_lr,
        "nag_fresh_val_loss": round(float(nag.mean()), 4),
        "baselines_tuned": list(BASELINES),
        "seeds": {},
    }
    for m, r, runs in zip(pipeline.meta_seeds(params, seed), results, lstm):
        out["seeds"][str(m)] = {
            "kept_meta_step": r.best_step,
            "selection_val_loss": round(r.best_val, 4),
            "fresh_val_loss": round(float(runs.mean()), 4),
            "wins_vs_nag": int((runs < nag).sum()),
            "val_curve": [round(v, 3) for v in r.history["val_loss"]],
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
