"""The HPO page's cost, wall-clock and hypergradient-accuracy blocks, from ``plots/hpo/`` (the ``hpo`` stage).

``scripts/docs_tables.py`` loads this file by path and adds :data:`TABLES` to its own, so
``python scripts/docs_tables.py`` rewrites these blocks too and ``tests/test_docs_tables.py``
checks them. Each block is built from the committed ``report.json`` and ``trace.csv`` alone, so
a rerun of ``hpo`` that moves a number leaves the page stale until it is regenerated; in
particular the wall-clock block always shows the committed run's seconds, never an earlier run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from docs_tables_common import num as _num
from docs_tables_common import table as _table

SOURCE = "plots/hpo"
PAGE = "docs/hpo.md"
#: The methods whose hypergradient the accuracy block compares with exact reverse mode, in its order.
ACCURACY_METHODS = ("central_differences", "kpiece4", "drmad", "ift", "online1", "online3", "online5")


def _report(root: Path) -> dict:
    return json.loads((root / SOURCE / "report.json").read_text())


def _count(x: float) -> str:
    """A count or a sum of counts, with thousands separators; NaN stays NaN."""
    return "NaN" if pd.isna(x) else f"{x:,.0f}"


def _error(rel_err: float, cosine: float) -> str:
    """A relative error in per cent (three significant digits) and its cosine; NaN stays NaN."""
    err = "NaN" if pd.isna(rel_err) else f"{100 * rel_err:.3g} %"
    return f"{err} ({_num(cosine, 2)})"


def spent(root: Path) -> pd.DataFrame:
    """Per method, the median over seeds of the work done within the step budget (the last round whose
    cumulative ``inner_steps`` fits it): forward steps, reverse steps, CG products, and their sum in
    forward-step equivalents with the measured ``budget_unit`` (``hyperlab.hpo.cost.equivalents``)."""
    report = _report(root)
    unit, budget = report["budget_unit"], report["params"]["step_budget"]
    trace = pd.read_csv(root / SOURCE / "trace.csv")
    within = trace[trace["inner_steps"] <= budget]
    last = within.loc[within.groupby(["method", "seed"], sort=False)["round"].idxmax()]
    last = last.assign(
        equivalents=last.inner_steps + unit["reverse"] * last.reverse_steps + unit["cg"] * last.cg_products
    )
    cols = ["inner_steps", "reverse_steps", "cg_products", "equivalents"]
    return last.groupby("method", sort=False)[cols].median()


def hpo_cost(root: Path) -> str:
    """``hpo``: what each method ran within the step budget, in the three counts and in forward-step equivalents."""
    unit = _report(root)["budget_unit"]
    rows = [
        [f"`{m}`", *(_count(r[c]) for c in ("inner_steps", "reverse_steps", "cg_products", "equivalents"))]
        for m, r in spent(root).iterrows()
    ]
    note = (
        f"\nOne reverse step = {unit['reverse']:.2f} forward steps, one CG product = {unit['cg']:.2f} "
        f"(`budget_unit`; one forward step is {unit['forward_flops']:.3g} FLOPs).\n"
    )
    header = ["method", "forward steps", "reverse steps", "CG products", "forward-step equivalents"]
    return _table(header, rows) + note


def hpo_wall(root: Path) -> str:
    """``hpo``: the timing-dependent columns of ``report.json``'s summary, as the committed run measured them."""
    report = _report(root)
    seconds, budget = report["params"]["budget_seconds"], report["params"]["step_budget"]
    rows = [
        [
            f"`{r['method']}`",
            f"{_num(r['val_loss_wall'])} [{_num(r['val_loss_wall_q1'])}, {_num(r['val_loss_wall_q3'])}]",
            _count(r["rounds_in_wall"]),
            _count(r["steps_in_wall"]),
            _num(r["seconds_to_step_budget"], 2),
            _num(r["warmup_s"], 2),
        ]
        for r in report["summary"]
    ]
    header = [
        "method",
        f"val CE within {seconds:g} s [quartiles]",
        f"rounds in {seconds:g} s",
        f"inner steps in {seconds:g} s",
        f"seconds to {budget:,} steps",
        "compile s",
    ]
    return _table(header, rows)


def hpo_accuracy(root: Path) -> str:
    """``hpo``: each hypergradient's relative error against exact reverse mode (its cosine) at each check point."""
    report = _report(root)
    acc = pd.DataFrame(report["accuracy"])
    names = report["coordinates"]
    rows = []
    for point, g in acc.groupby("point", sort=True):
        by = g.set_index("method")
        h = ", ".join(f"{by.iloc[0][f'h_{i}']:.2f}" for i in range(len(names)))
        cells = [_error(by.loc[m, "rel_err"], by.loc[m, "cosine"]) if m in by.index else "" for m in ACCURACY_METHODS]
        rows.append([f"{point}: ({h})", *cells])
    header = [f"point: h = ({', '.join(names)})", *(f"`{m}`" for m in ACCURACY_METHODS)]
    return _table(header, rows)


TABLES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "hpo-cost": (PAGE, hpo_cost),
    "hpo-wall": (PAGE, hpo_wall),
    "hpo-accuracy": (PAGE, hpo_accuracy),
}
