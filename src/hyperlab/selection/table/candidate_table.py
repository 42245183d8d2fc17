"""The candidate table: one row per (network, seed) of the trained space, and its summaries.

The schema of ``data/candidates.csv`` is a contract with the search stage
(:mod:`hyperlab.selection.table.validate` reads and checks it): columns are only ever appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hyperlab.selection.analysis.fronts import true_front
from hyperlab.selection.space.architectures import width_columns
from hyperlab.selection.table.table import network_summary
from hyperlab.training.network import Arch, arch_name, forward_flops, n_params

SETS = ("train", "val", "test")


def candidate_table(
    archs: Sequence[Arch],
    seeds: Sequence[int],
    max_layers: int,
    errors: np.ndarray,
    failed: np.ndarray,
    train_seconds: np.ndarray,
    latency_ms: np.ndarray,
    final_loss: np.ndarray,
) -> pd.DataFrame:
    """The table, networks in ``archs`` order, seeds inner.

    ``errors`` (networks, seeds, 3: train/val/test); ``failed``, ``train_seconds``,
    ``latency_ms``, ``final_loss``: (networks, seeds). Failed rows keep their
    shape columns and timings but have NaN errors.
    """
    rows = []
    for i, arch in enumerate(archs):
        widths = list(arch) + [0] * (max_layers - len(arch))
        for j, seed in enumerate(seeds):
            bad = bool(failed[i, j])
            row = {
                "arch": arch_name(arch),
                "n_layers": len(arch),
                **dict(zip(width_columns(max_layers), widths)),
                "seed": int(seed),
                "n_params": n_params(arch),
                "flops": forward_flops(arch),
            }
            for k, name in enumerate(SETS):
                row[f"{name}_error"] = np.nan if bad else float(errors[i, j, k])
            row["train_seconds"] = float(train_seconds[i, j])
            row["latency_ms"] = float(latency_ms[i, j])
            row["status"] = "failed" if bad else "ok"
            row["final_train_loss"] = np.nan if bad else float(final_loss[i, j])
            rows.append(row)
    return pd.DataFrame(rows)


def per_network(table: pd.DataFrame) -> pd.DataFrame:
    """The stage's plot data: :func:`~hyperlab.selection.table.table.network_summary`, one row per network in
    the table's order (column ``arch``), with the ``pareto`` flag of the true (error, latency) front."""
    nets = network_summary(table)
    order = pd.unique(table.loc[table["status"] == "ok", "arch"])
    out = nets.loc[order].rename_axis("arch").reset_index()
    out["pareto"] = true_front(out)
    return out


def summary(table: pd.DataFrame, nets: pd.DataFrame) -> dict:
    """Headline numbers of the table (``metrics/candidates.json``, timings added by the stage)."""
    out: dict[str, Any] = {
        "n_networks": int(table["arch"].nunique()),
        "n_rows": int(len(table)),
        "n_failed": int((table["status"] == "failed").sum()),
    }
    if len(nets):
        best = nets.loc[nets["val_error"].idxmin()]
        out.update(
            best_val_error=float(best["val_error"]),
            best_arch=str(best["arch"]),
            best_test_error=float(best["test_error"]),
            best_row_val_error=float(table["val_error"].min()),
            latency_ms_min=float(table["latency_ms"].min()),
            latency_ms_max=float(table["latency_ms"].max()),
            pareto_size=int(nets["pareto"].sum()),
            val_error_seed_std_median=float(nets["val_error_std"].median()),
        )
    else:
        out.update(
            best_val_error=None,
            best_arch=None,
            best_test_error=None,
            best_row_val_error=None,
            latency_ms_min=float(table["latency_ms"].min()),
            latency_ms_max=float(table["latency_ms"].max()),
            pareto_size=0,
            val_error_seed_std_median=None,
        )
    return out
