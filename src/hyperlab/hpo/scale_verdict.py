"""What the dimension study's runs say: medians per method, the crossover, a verdict per family.

The comparison is at the inner-step budget (deterministic). A family is won by the
*hypergradient* side when the best median validation loss of the gradient methods
(exact, K-piece, DrMAD, IFT, online) is below the best of the search methods (GP-EI,
TPE, random, CMA-ES), else by the *search* side; the verdict says whether the two
winners' interquartile ranges over seeds overlap (then the ranking is not clear-cut).
The crossover is the smallest dimension from which the hypergradient side wins at
every larger dimension run.

:func:`paired` judges the same two methods again, seed by seed, on three scales: the
validation cross-entropy they minimize, and the test cross-entropy and test error they are
scored on. Rule (:data:`PAIRED_RULE`): a side wins a family on a scale when its method is
ahead on every paired seed (a one-sided sign test, p = 2^-n: 0.031 for 5 seeds); any other
split, ties included, is no winner. The crossover on each scale is the smallest dimension
from which the hypergradient side wins at every larger dimension run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperlab.hpo.methods import is_gradient

COLUMNS = ("val_loss", "test_error", "test_loss", "val_error")
#: The scales a verdict is given on: the objective, then the held-out scores of the h it chose.
SCALES = ("val_loss", "test_loss", "test_error")
PAIRED_RULE = (
    "a side wins a family on a scale when its best method (chosen by median validation CE) is ahead of the "
    "other side's on every paired seed (sign test, p = 2^-n); otherwise no winner"
)


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
    """The smallest dimension from which hypergradients win (by median) at every larger dimension (None: never)."""
    return crossover_of(verdicts(summary))


def crossover_of(verdict_rows: list[dict]) -> dict:
    """:func:`crossover` from the verdicts already made (:func:`verdicts`)."""
    return _crossover([(row["dim"], row["winner"]) for row in verdict_rows])


def _seed_values(runs: pd.DataFrame, family: str, method: str, scale: str) -> pd.Series:
    g = runs[(runs["family"] == family) & (runs["method"] == method) & runs["ran"].astype(bool)]
    return g.set_index("seed")[scale].astype(float)


def _paired_scale(a: pd.Series, b: pd.Series) -> dict:
    """Seeds where ``a`` (the hypergradient method) is below, above or level with ``b``; the unanimous winner."""
    seeds = a.index.intersection(b.index)
    diff = (a[seeds] - b[seeds]).to_numpy()
    ahead, behind, level = int((diff < 0).sum()), int((diff > 0).sum()), int((diff == 0).sum())
    n = len(seeds)
    winner = "hypergradient" if n and ahead == n else "search" if n and behind == n else None
    return {"seeds": n, "hypergradient_ahead": ahead, "search_ahead": behind, "level": level, "winner": winner}


def paired(runs: pd.DataFrame, verdict_rows: list[dict]) -> dict:
    """Per family and scale, the paired comparison of the two sides' best methods; and the crossover per scale.

    A family where one side did not run is won by the other side on every scale (nothing to pair).
    """
    families = []
    for row in verdict_rows:
        grad, search = row["best_hypergradient"], row["best_search"]
        scales = {}
        for scale in SCALES:
            if grad is None or search is None:
                scales[scale] = {"winner": "hypergradient" if search is None else "search", "seeds": 0}
            else:
                a = _seed_values(runs, row["family"], grad["method"], scale)
                scales[scale] = _paired_scale(a, _seed_values(runs, row["family"], search["method"], scale))
        families.append({"family": row["family"], "dim": row["dim"], "scales": scales})
    crossovers = {scale: _crossover([(f["dim"], f["scales"][scale]["winner"]) for f in families]) for scale in SCALES}
    return {"rule": PAIRED_RULE, "families": families, "crossover": crossovers}


def _crossover(winners: list[tuple[int, str | None]]) -> dict:
    """The smallest d from which the hypergradient side wins at every larger d (``winners`` by ascending d)."""
    dim = None
    for d, winner in reversed(winners):
        if winner != "hypergradient":
            break
        dim = d
    dims = [d for d, _ in winners]
    if dim is None:
        text = f"no crossover up to d = {max(dims)}: the hypergradient side does not win the largest dimension run"
    elif dim == min(dims):
        text = f"hypergradients win at every dimension run, from d = {dim}"
    else:
        text = f"hypergradients win from d = {dim} on; not below"
    return {"dim": dim, "statement": text}


def headline(report: dict) -> dict:
    """The number ``dvc exp show`` compares: in the headline view (equal compute), the crossover dimension on test
    error by the paired rule -- the held-out scale the verdict rests on (None: no crossover). Every scale, view and
    family is in the report (``views``)."""
    crossover = report["views"][report["headline_view"]]["paired"]["crossover"]
    return {"crossover_dim_test_error": crossover["test_error"]["dim"]}
