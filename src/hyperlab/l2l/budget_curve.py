"""The meta-training budget curve: the kept LSTM after N meta-updates against the tuned baselines, on val.

For each recipe and each budget N, the weights meta-training had kept after N
meta-updates (its best validation check so far, :class:`.meta_train.MetaTrainSettings`'s
``snapshots``) run on ``budget_runs`` fresh val-split optimizees that neither
that choice nor the learning-rate tuning saw, paired with the four tuned
baselines on the same inits and minibatches. A meta-seed reaches the bar at a
point of the curve when it beats every tuned baseline in at least
:data:`.names.BAR_FRACTION` of the paired runs -- the rule of the test-split
verdict, applied on val.

The setting the ``l2l`` stage evaluates on the test split follows the curve
(:func:`choose`): among the (recipe, budget) points where every meta-seed
reaches the bar, the one with the lowest mean loss; if there is none, the point
with the lowest mean loss, and the verdict is "not reproduced on val within the
largest budget".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import pandas as pd

from hyperlab.l2l import baselines
from hyperlab.l2l.evaluate import BASELINES, LSTM_RUNS_PER_BATCH, run_grid
from hyperlab.l2l.lstm_optimizer import LSTMConfig
from hyperlab.l2l.names import BAR_FRACTION
from hyperlab.l2l.protocol import Split, base_run, tuning_keys

if TYPE_CHECKING:  # annotations only
    from hyperlab.config import L2LParams

#: jax.random.fold_in stream of the fresh val optimizees (the protocol's streams are 1..4).
_BUDGET = 5
#: Meta-updates of the authors' released MNIST run: 10,000 epochs x 5 unrolls of 20 steps.
REFERENCE_META_UPDATES = 50_000


def budget_keys(params: L2LParams, seed: int) -> jax.Array:
    """The fresh val-split inits every point of the curve is scored on (paired with the baselines)."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), _BUDGET), params.budget_runs)


def baseline_losses(params: L2LParams, seed: int, val: Split) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The four baselines, learning rates tuned on val as the ``l2l`` stage tunes them: ``(lrs, final losses
    on the fresh val optimizees, (runs,) each)``."""
    run = base_run(params)
    grid = np.asarray(params.lr_grid, dtype=np.float64)
    tuned = baselines.tune_lrs(grid, tuning_keys(params, seed), val.x, val.y, run)
    lrs = {name: lr for name, (lr, _) in tuned.items()}
    hp = baselines.hparams(BASELINES, [lrs[n] for n in BASELINES])
    traj = run_grid("baseline", hp, budget_keys(params, seed), val.x, val.y, run.final_only(), None)
    final = np.asarray(traj.loss[:, :, -1], dtype=np.float64)
    return lrs, {name: final[i] for i, name in enumerate(BASELINES)}


def lstm_losses(params: L2LParams, seed: int, val: Split, stacked, cfg: LSTMConfig) -> np.ndarray:
    """Final losses ``(meta-seeds, runs)`` of the LSTMs ``stacked`` over a leading meta-seed axis."""
    run = base_run(params).final_only()
    traj = run_grid(
        "lstm", stacked, budget_keys(params, seed), val.x, val.y, run, cfg, runs_per_batch=LSTM_RUNS_PER_BATCH
    )
    return np.asarray(traj.loss[:, :, -1], dtype=np.float64)


def curve_rows(point: dict[str, Any], losses: np.ndarray, base: dict[str, np.ndarray]) -> list[dict]:
    """One row per meta-seed of a point of the curve. ``point``: recipe, meta_updates, and per seed (lists)
    meta_seed and kept_meta_step; ``losses``: (seeds, runs); ``base``: each baseline's (runs,) losses."""
    rows = []
    for s, (m, kept) in enumerate(zip(point["meta_seed"], point["kept_meta_step"])):
        mine = losses[s]
        wins = {b: int(np.sum(mine < base[b])) for b in BASELINES}
        rows.append(
            {
                "recipe": point["recipe"],
                "meta_updates": point["meta_updates"],
                "meta_seed": m,
                "kept_meta_step": kept,
                "runs": mine.size,
                "val_loss": float(mine.mean()),
                "val_se": float(mine.std(ddof=1) / np.sqrt(mine.size)),
                **{f"{b}_loss": float(base[b].mean()) for b in BASELINES},
                **{f"wins_vs_{b}": wins[b] for b in BASELINES},
                "reaches_bar": bool(min(wins.values()) >= BAR_FRACTION * mine.size),
            }
        )
    return rows


def choose(curve: pd.DataFrame) -> dict[str, Any]:
    """The setting the test split evaluates, by the rule of the module docstring, and the verdict on val."""
    points = (
        curve.groupby(["recipe", "meta_updates"], sort=True)
        .agg(val_loss=("val_loss", "mean"), every_seed=("reaches_bar", "all"))
        .reset_index()
    )
    passing = points[points.every_seed]
    pool = passing if len(passing) else points
    best = pool.sort_values(["val_loss", "meta_updates", "recipe"], kind="stable").iloc[0]
    largest = int(curve.meta_updates.max())
    return {
        "recipe": str(best.recipe),
        "meta_updates": int(best.meta_updates),
        "val_loss": float(best.val_loss),
        "reproduced_on_val": bool(len(passing)),
        "largest_budget": largest,
        "reference_meta_updates": REFERENCE_META_UPDATES,
        "rule": (
            f"a point reaches the bar when every meta-seed beats every tuned baseline in >= {BAR_FRACTION:.0%} of "
            "paired fresh val runs; the test split evaluates the passing point with the lowest mean val loss, "
            "or, if none passes, the point with the lowest mean val loss"
        ),
        "verdict": (
            f"reproduced on val: {best.recipe} at {int(best.meta_updates)} meta-updates"
            if len(passing)
            else f"not reproduced on val within {largest} meta-updates "
            f"(the released code meta-trains {REFERENCE_META_UPDATES:,})"
        ),
    }
