"""What the dimension study's runs say: medians per method, the crossover, a verdict per family.

The comparison is at the inner-step budget (deterministic). A family is won by the
*hypergradient* side when the best median validation loss of the gradient methods
(exact, K-piece, DrMAD, IFT, online) is below the best of the search methods (GP-EI,
TPE, random, CMA-ES), else by the *search* side; the verdict says whether the two
winners' interquartile ranges over seeds overlap (then the ranking is not clear-cut).
The crossover is the smallest dimension from which the hypergradient side wins at
every larger dimension run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperlab.hpo.scale_methods import is_gradient

COLUMNS = ("val_loss", "test_error", "test_loss", "val_error")


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles over seeds per (family, method), in run order; methods that did not run keep why."""
    rows = []
    for (family, method), g in runs.groupby(["family", "method"], sort=False):
        row = {"family": family, "dim": int(g["dim"].iloc[0]), "method": method, "side": _side(method)}
        if not bool(g["ran"].iloc[0]):
            rows.append({**row, "ran": False, "why_not": g["why_not"].iloc[0]})
            continue
        row.update({"ran": True, "why_not": "", "seeds": len(g)})
        for col in COLUMNS:
            q1, med, q3 = np.percentile(g[col], [25, 50, 75])
            row.update({col: med, f"{col}_q1": q1, f"{col}_q3": q3})
        row.update(
            {
                "initial_val_loss": float(np.median(g["initial_val_loss"])),
                "evaluations": float(np.median(g["evaluations"])),
                "wall_s": float(np.median(g["wall_s"])),
                "seconds_per_evaluation": float(np.median(g["wall_s"] / g["evaluations"])),
                "warmup_s": float(g["warmup_s"].iloc[0]),
                "memory_mb": None if pd.isna(g["memory_bytes"].iloc[0]) else g["memory_bytes"].iloc[0] / 2**20,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _side(method: str) -> str:
    return "hypergradient" if is_gradient(method) else "search"


def _best(rows: pd.DataFrame) -> dict | None:
    rows = rows[rows["ran"].astype(bool)]
    if rows.empty:
        return None
    r = rows.loc[rows["val_loss"].idxmin()]
    return {
        k: (r[k] if isinstance(r[k], str) else float(r[k]))
        for k in ("method", "val_loss", "val_loss_q1", "val_loss_q3", "test_error")
    }


def verdicts(summary: pd.DataFrame) -> list[dict]:
    """Per family (by dimension): the best method of each side, the winner, and whether it is clear-cut."""
    out = []
    for family, g in sorted(summary.groupby("family", sort=False), key=lambda kv: int(kv[1]["dim"].iloc[0])):
        grad, search = _best(g[g["side"] == "hypergradient"]), _best(g[g["side"] == "search"])
        row: dict = {"family": family, "dim": int(g["dim"].iloc[0]), "best_hypergradient": grad, "best_search": search}
        if grad is None or search is None:
            row.update({"winner": "hypergradient" if search is None else "search", "clear": None, "margin": None})
        else:
            winner, loser = (grad, search) if grad["val_loss"] < search["val_loss"] else (search, grad)
            row.update(
                {
                    "winner": "hypergradient" if winner is grad else "search",
                    "margin": loser["val_loss"] - winner["val_loss"],
                    "clear": bool(winner["val_loss_q3"] < loser["val_loss_q1"]),
                }
            )
        out.append(row)
    return out


def crossover(summary: pd.DataFrame) -> dict:
    """The smallest dimension from which hypergradients win at every larger dimension (None: they never do)."""
    rows = verdicts(summary)
    dim = None
    for row in reversed(rows):
        if row["winner"] != "hypergradient":
            break
        dim = row["dim"]
    dims = [r["dim"] for r in rows]
    if dim is None:
        text = f"no crossover up to d = {max(dims)}: search wins at the largest dimension run"
    elif dim == min(dims):
        text = f"hypergradients win at every dimension run, from d = {dim}"
    else:
        text = f"hypergradients win from d = {dim} on; search wins below"
    return {"dim": dim, "statement": text}


def headline(report: dict) -> dict:
    """The number ``dvc exp show`` compares: the crossover dimension (None: no crossover); the rest is in the report."""
    return {"crossover_dim": report["crossover"]["dim"]}
