"""The ``l2l_train`` experiment: meta-train one coordinatewise LSTM optimizer per meta-seed on MNIST optimizees.

Returns (:class:`hyperlab.report.Result`) the kept (best-on-validation)
weights of every meta-seed, stacked (product ``weights``: the arrays of
``data/l2l/lstm.npz``, read back by :func:`hyperlab.l2l.weights.load_weights`),
the meta-training curves per seed (``meta_training.csv``, ``meta_validation.csv``)
and the report. No headline: the ``l2l`` stage's test-split numbers are the ones to compare.
"""

from __future__ import annotations

import jax
import numpy as np

from hyperlab.l2l import pipeline
from hyperlab.l2l.lstm_optimizer import weights_to_arrays
from hyperlab.progress import Progress, silent
from hyperlab.report import Result


def run(params, seed: int, arrays: dict[str, np.ndarray], progress: Progress = silent) -> Result:
    """Meta-train on the splits ``arrays`` (:func:`hyperlab.data.load_npz`) with the ``l2l`` params."""
    splits = pipeline.splits_from_npz(arrays)
    seeds = pipeline.meta_seeds(params, seed)
    results = pipeline.train(params, seed, splits, progress=progress)
    steps, val = pipeline.history_frames(results, params.n_steps // params.unroll, seeds)
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *(r.best_params for r in results))
    weights = {
        "meta_seeds": np.asarray(seeds, dtype=np.int64),
        **weights_to_arrays(stacked, pipeline.lstm_config(params)),
    }
    seconds = results[0].seconds
    report = {
        "meta_train_seconds": round(seconds, 2),
        "meta_seeds": seeds,
        "meta_steps": params.meta_steps,
        "meta_steps_per_second": round(params.meta_steps / seconds, 4),
        "seed_meta_steps_per_second": round(len(seeds) * params.meta_steps / seconds, 4),
        "val_runs_per_check": params.val_runs,
        "val_checks": int(len(val) // len(seeds)),
        "seeds": {
            str(m): {
                "best_meta_step": r.best_step,
                "best_val_final_loss": r.best_val,
                "best_val_se": r.best_val_se,
                "untrained_val_final_loss": r.history["val_loss"][0],
                "skipped_updates": r.n_skipped,
            }
            for m, r in zip(seeds, results)
        },
    }
    return Result({"meta_training.csv": steps, "meta_validation.csv": val}, {}, report, products={"weights": weights})
