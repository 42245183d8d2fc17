"""The tabular benchmark: an Optuna objective that looks networks up in the candidate table.

As in NAS-Bench-101/201 and HPOBench, every network of the space was trained
beforehand (several seeds each) by the ``candidates`` stage; a search then
costs nothing but a table lookup, so each strategy can be run many times and
its regret measured against the table's known optimum (docs/REFERENCES.md §1).
The trial's parameters are the encoding of :mod:`hyperlab.selection.space.encoding`.

A lookup draws one of the stored seeds of the network (the draw depends only
on the run's seed, the repeat and the trial number, so it is the same whatever
the sampler, worker or resume), so the observed error carries the real
seed-to-seed noise. Failed rows make failed trials.
"""

from __future__ import annotations

import numpy as np

from hyperlab.selection.names import COST_COLUMNS
from hyperlab.selection.space.encoding import suggest_arch
from hyperlab.selection.table.table import Table


class NetworkFailed(Exception):
    """The drawn row of the table is a failed training run: the trial fails."""


class TableObjective:
    """``objective(trial)`` over the table: val error (and latency for two objectives).

    Sets user attributes ``arch``, ``row_seed``, ``cost`` (column ``cost_column``
    of the drawn row), ``latency_ms`` and ``test_error``; a failed row raises
    :class:`NetworkFailed`, which the runner catches so the trial is FAIL.
    """

    def __init__(
        self, table: Table, cost: str = "latency", multi_objective: bool = False, seed: int = 0, repeat: int = 0
    ):
        if cost not in COST_COLUMNS:
            raise ValueError(f"cost must be one of {list(COST_COLUMNS)}, got {cost!r}")
        self.space = table.space
        self.cost_column = COST_COLUMNS[cost]
        self.multi_objective = multi_objective
        self.seed, self.repeat = seed, repeat
        cols = ["seed", "status", "val_error", "test_error", "latency_ms", "train_seconds", self.cost_column]
        self._rows = {
            arch: g[list(dict.fromkeys(cols))].to_dict("records") for arch, g in table.rows.groupby("arch", sort=True)
        }

    def __call__(self, trial):
        arch = suggest_arch(trial, self.space)
        trial.set_user_attr("arch", arch)
        rows = self._rows.get(arch)
        if not rows:
            raise NetworkFailed(f"{arch} is not in the table")
        draw = np.random.default_rng([self.seed, self.repeat, trial.number]).integers(len(rows))
        row = rows[int(draw)]
        trial.set_user_attr("row_seed", int(row["seed"]))
        if row["status"] != "ok" or not np.isfinite(row["val_error"]):
            raise NetworkFailed(f"{arch} seed {row['seed']} failed")
        cost = float(row[self.cost_column])
        trial.set_user_attr("cost", cost)
        trial.set_user_attr("latency_ms", float(row["latency_ms"]))
        trial.set_user_attr("train_seconds", float(row["train_seconds"]))
        trial.set_user_attr("test_error", float(row["test_error"]))
        if self.multi_objective:
            return float(row["val_error"]), float(row["latency_ms"])
        return float(row["val_error"])
