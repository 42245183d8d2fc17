"""The ``l2l_train`` experiment: meta-train the LSTM optimizer under each recipe, and its budget curve.

For each recipe of ``l2l.recipes`` (:mod:`hyperlab.l2l.recipes`) one LSTM per
meta-seed is meta-trained for that recipe's meta-updates; the weights kept
after each budget of ``l2l.budgets`` are scored on fresh val-split optimizees
against the tuned baselines (:mod:`hyperlab.l2l.budget_curve`). Returns
(:class:`hyperlab.report.Result`) the weights of the setting the curve chooses,
stacked over meta-seeds (product ``weights``: the arrays of
``data/l2l/lstm.npz``, read back by :func:`hyperlab.l2l.weights.load_weights`),
the curve (``budget.csv``), the meta-training curves per recipe and seed
(``meta_training.csv``, ``meta_validation.csv``) and the report. No headline:
the ``l2l`` stage's test-split numbers are the ones to compare.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import jax
import numpy as np
import pandas as pd

from hyperlab.l2l import budget_curve, protocol
from hyperlab.l2l.lstm_optimizer import weights_to_arrays
from hyperlab.l2l.recipes import RECIPES
from hyperlab.progress import Progress, silent
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only
    from hyperlab.config import L2LParams

log = logging.getLogger(__name__)


def _stack(trees):
    return jax.tree_util.tree_map(lambda *a: np.stack(a), *trees)


def run(params: L2LParams, seed: int, arrays: dict[str, np.ndarray], progress: Progress = silent) -> Result:
    """Meta-train on the splits ``arrays`` (:func:`hyperlab.data.load_npz`) with the ``l2l`` params."""
    splits = protocol.splits_from_npz(arrays)
    seeds = protocol.meta_seeds(params, seed)
    lrs, base = budget_curve.baseline_losses(params, seed, splits["val"])
    rows, steps, vals, weights, report = [], [], [], {}, {}
    for name, run in params.recipes.items():
        meta_steps = run.meta_updates
        snapshots = tuple(sorted({b for b in params.budgets if b <= meta_steps} | {meta_steps}))
        settings = protocol.meta_train_settings(params, RECIPES[name], meta_steps, snapshots)
        results = protocol.train(params, seed, splits, settings, progress=progress)
        for n in snapshots:
            stacked = _stack([r.snapshots[n][0] for r in results])
            kept = [r.snapshots[n][1] for r in results]
            losses = budget_curve.lstm_losses(params, seed, splits["val"], stacked, settings.cfg)
            point = {"recipe": name, "meta_updates": n, "meta_seed": seeds, "kept_meta_step": kept}
            rows += budget_curve.curve_rows(point, losses, base)
            weights[(name, n)] = (stacked, settings.cfg)
            log.info("%s, %d meta-updates: val loss per meta-seed %s", name, n, np.round(losses.mean(axis=1), 4))
        step_frame, val_frame = protocol.history_frames(results, params.n_steps // params.unroll, seeds)
        steps.append(step_frame.assign(recipe=name))
        vals.append(val_frame.assign(recipe=name))
        seconds = results[0].seconds
        report[name] = {
            "recipe": RECIPES[name]._asdict(),
            "meta_steps": meta_steps,
            "meta_train_seconds": round(seconds, 2),
            "seed_meta_steps_per_second": round(len(seeds) * meta_steps / seconds, 4),
            "skipped_updates": {str(m): r.n_skipped for m, r in zip(seeds, results)},
        }
    curve = pd.DataFrame(rows)
    chosen = budget_curve.choose(curve)
    stacked, cfg = weights[(chosen["recipe"], chosen["meta_updates"])]
    products = {
        "weights": {
            "meta_seeds": np.asarray(seeds, dtype=np.int64),
            "recipe": np.asarray(chosen["recipe"]),
            "meta_updates": np.asarray(chosen["meta_updates"], dtype=np.int64),
            **weights_to_arrays(stacked, cfg),
        }
    }
    full = {
        "chosen": chosen,
        "meta_seeds": seeds,
        "budget_runs": params.budget_runs,
        "val_runs_per_check": params.val_runs,
        "baseline_lrs": lrs,
        "recipes": report,
    }
    tables = {
        "budget.csv": curve,
        "meta_training.csv": _recipe_first(pd.concat(steps, ignore_index=True)),
        "meta_validation.csv": _recipe_first(pd.concat(vals, ignore_index=True)),
    }
    return Result(tables, {}, full, products=products)


def _recipe_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["recipe", *(c for c in frame.columns if c != "recipe")]]
