"""The ``l2l`` experiment: the meta-trained LSTM optimizers against tuned SGD / Adam / RMSprop / NAG.

Tunes each baseline's learning rate on the validation split, runs every
optimizer from ``eval_runs`` fresh inits on the held-out test split in the
base setting (for ``long_steps``) and in each generalization setting
(:func:`hyperlab.l2l.protocol.evaluate`), and returns
(:class:`hyperlab.report.Result`) the tables ``curves.csv``, ``final.csv``,
``lr_tuning.csv`` and ``base_loss.csv`` (the base setting's mean loss per
step, one column per optimizer), the report and its headline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from hyperlab.l2l import protocol
from hyperlab.progress import Progress, silent
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only
    from hyperlab.config import L2LParams
    from hyperlab.l2l.weights import LSTMWeights

#: Columns of ``base_loss.csv`` after ``step`` and the LSTMs: the tuned baselines, in the plot's legend order.
BASE_LOSS_BASELINES = ("adam", "sgd", "rmsprop", "nag")


def headline(report: dict) -> dict:
    """The meta-updates behind the kept LSTMs, and the base setting at the meta-training horizon: each
    meta-seed's LSTM loss beside the best tuned baseline's, their spread (max - min over meta-seeds), and the
    fewest paired wins of any meta-seed against any tuned baseline (out of ``eval_runs``)."""
    base = report["settings"]["base"]
    loss = {f"lstm_s{m}": v["loss"] for m, v in base["lstm_seeds"].items()}
    loss["best_baseline"] = base[base["best_baseline"]]["loss"]
    spread = base["lstm_seed_spread"]
    return {
        "meta_updates": report["meta_updates"],
        "base_loss": loss,
        "lstm_seed_spread": spread["max"] - spread["min"],
        "min_wins_vs_every_baseline": base["min_wins_vs_every_baseline"],
    }


def run(
    params: L2LParams, seed: int, arrays: dict[str, np.ndarray], weights: LSTMWeights, progress: Progress = silent
) -> Result:
    """Evaluate on the splits ``arrays`` (:func:`hyperlab.data.load_npz`) the LSTMs ``weights``.

    ``weights``: :class:`hyperlab.l2l.weights.LSTMWeights` (:func:`hyperlab.l2l.weights.load_weights`).
    """
    seeds = weights.meta_seeds
    splits = protocol.splits_from_npz(arrays)
    t0 = time.perf_counter()
    ev = protocol.evaluate(params, seed, splits, weights, progress=progress)
    seconds = time.perf_counter() - t0
    base = ev.curves[ev.curves.setting == "base"].dropna(subset=["loss_mean"])
    wide = base.pivot(index="step", columns="optimizer", values="loss_mean").reset_index()
    tables = {
        "curves.csv": ev.curves,
        "final.csv": ev.final,
        "lr_tuning.csv": ev.tuning,
        "base_loss.csv": wide[["step", "lstm", *(f"lstm_s{m}" for m in seeds), *BASE_LOSS_BASELINES]],
    }
    report = {
        **ev.metrics,
        "recipe": weights.recipe,
        "meta_updates": weights.meta_updates,
        "eval_seconds": round(seconds, 2),
    }
    return Result(tables, headline(report), report)
