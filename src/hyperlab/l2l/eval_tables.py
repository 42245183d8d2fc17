"""The test-split tables and verdicts of the evaluation (:func:`.protocol.evaluate`), one setting at a time.

Per optimizer the curves (mean and a 10-90 % band over runs, per step); per
checkpoint (a setting at a step) the final losses of every optimizer and the
paired comparison of each meta-seed's LSTM with each tuned baseline: a win is
a paired run (same init, same minibatches) where the LSTM's loss is strictly
below the baseline's, and a meta-seed reaches the bar when it wins at least
:data:`.names.BAR_FRACTION` of them against every baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hyperlab.l2l.evaluate import BASELINES, OPTIMIZERS, Trajectory, summarize
from hyperlab.l2l.names import BAR_FRACTION


def curve_rows(setting: str, name: str, traj: Trajectory, every: int) -> pd.DataFrame:
    """The rows of ``curves.csv`` of one optimizer in one setting: per step, the mean and the 10-90 %
    band over runs of the whole-split loss (recorded every ``every`` steps, NaN between), the
    minibatch gradient norm and the norm of theta."""
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
