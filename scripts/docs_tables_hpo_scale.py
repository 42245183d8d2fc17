"""The blocks of the HPO-at-scale page, from ``plots/hpo_scale/`` and ``plots/hpo_sweep/`` (their report.json and csv).

``scripts/docs_tables.py`` loads this file by path and adds :data:`TABLES` to its own. Every
verdict the page states in words is a block here too (:func:`scale_verdicts`), written from the
reports' rules whichever way the numbers fall: a rerun that moves a crossover rewrites the
sentence, and ``tests/test_docs_tables.py`` fails until the page is regenerated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from docs_tables_common import load_json, num, pct, table

SCALE, SWEEP = "plots/hpo_scale", "plots/hpo_sweep"
PAGE = "docs/hpo-scale.md"
SCALES = {"val_loss": "validation CE (objective)", "test_loss": "test CE", "test_error": "test error"}
VIEW_NAMES = {"compute": "equal compute", "steps": "step budget"}
KIND_NAMES = {"lr_knots": "learning-rate schedule in K knots", "l2_groups": "L2 in G weight blocks"}
#: ... at the start of a sentence
KIND_TITLES = {"lr_knots": "Learning-rate schedule in K knots", "l2_groups": "L2 in G weight blocks"}


def _report(root: Path) -> dict:
    return load_json(root, f"{SCALE}/report.json")


def _view(report: dict, view: str | None = None) -> dict:
    return report["views"][view or report["headline_view"]]


def _side(best: dict | None) -> str:
    if best is None:
        return "not run"
    q = f" [{num(best['val_loss_q1'])}, {num(best['val_loss_q3'])}]"
    return f"`{best['method']}` {num(best['val_loss'])}{q}, test {pct(best['test_error'])}"


def _paired_cell(s: dict) -> str:
    counts = f" ({s['hypergradient_ahead']} : {s['search_ahead']})" if s.get("seeds") else ""
    return f"{s['winner'] or 'none'}{counts}"


def _dim(d: int | None) -> str:
    return f"d = {d:,}" if d is not None else "none"


def _paired_table(paired: dict, first: str = "family (d)", label=None) -> str:
    rows = []
    for f in paired["families"]:
        name = label(f) if label else f"`{f['family']}` ({f['dim']:,})"
        rows.append([name, *(_paired_cell(f["scales"][k]) for k in SCALES)])
    cross = paired["crossover"]
    rows.append(["**crossover**", *(_dim(cross[k]["dim"]) for k in SCALES)])
    return table([first, *SCALES.values()], rows)


def scale_families(root: Path) -> str:
    """Headline view: per family, the best method of each side and the verdict of each rule on the objective."""
    view = _view(_report(root))
    paired = {f["family"]: f["scales"] for f in view["paired"]["families"]}
    rows = []
    for v in view["verdicts"]:
        if v["margin"] is None:
            median = f"{v['winner']} (the other side did not run)"
        else:
            median = f"{v['winner']}, by {v['margin']:.3f}" + ("" if v["clear"] else " (quartiles overlap)")
        rows.append(
            [
                f"`{v['family']}` ({v['dim']:,})",
                _side(v["best_hypergradient"]),
                _side(v["best_search"]),
                median,
                _paired_cell(paired[v["family"]]["val_loss"]),
            ]
        )
    header = ["family (d)", "best hypergradient method", "best search method", "median rule", "paired rule"]
    return table(header, rows)


def scale_paired(root: Path) -> str:
    """Headline view: the paired verdict on each scale per family, and the crossover on each scale."""
    return _paired_table(_view(_report(root))["paired"])


def scale_step_view(root: Path) -> str:
    """The step-budget view (reverse passes free): the same paired table, for comparison with the headline."""
    return _paired_table(_view(_report(root), "steps")["paired"])


def scale_methods(root: Path) -> str:
    """Headline view: every method's median validation CE per family (bold: the family's best)."""
    s = pd.read_csv(root / SCALE / "summary.csv")
    families = list(dict.fromkeys(s["family"]))
    dims = {f: int(s[s.family == f]["dim"].iloc[0]) for f in families}
    best = {f: s[(s.family == f) & s.ran.astype(bool)]["val_loss"].min() for f in families}
    rows = []
    for method in dict.fromkeys(s["method"]):
        cells = []
        for f in families:
            r = s[(s.family == f) & (s.method == method)]
            if r.empty:
                cells.append("")
            elif not bool(r["ran"].iloc[0]):
                cells.append("not run")
            else:
                v = float(r["val_loss"].iloc[0])
                cells.append(f"**{num(v)}**" if v == best[f] else num(v))
        rows.append([f"`{method}`", *cells])
    return table(["method", *(f"`{f}` {dims[f]:,}" for f in families)], rows)


def scale_budget(root: Path) -> str:
    """Per method, what each budget buys (medians over families and seeds): rounds, forward steps, reverse steps,
    CG products and forward-step equivalents; then wall clock and XLA's memory estimate of the headline runs."""
    views = {
        v: pd.read_csv(root / SCALE / name) for v, name in (("compute", "runs.csv"), ("steps", "runs_step_budget.csv"))
    }
    summary = pd.read_csv(root / SCALE / "summary.csv")
    rows = []
    for method in dict.fromkeys(views["compute"][views["compute"]["ran"].astype(bool)]["method"]):
        c, s = (views[v][views[v]["ran"].astype(bool) & (views[v]["method"] == method)] for v in ("compute", "steps"))
        m = summary[summary["ran"].astype(bool) & (summary["method"] == method)]
        rows.append(
            [
                f"`{method}`",
                f"{c['evaluations'].median():.0f}",
                " / ".join(f"{c[k].median():,.0f}" for k in ("forward_steps", "reverse_steps", "cg_products")),
                f"{c['compute'].median():,.0f}",
                f"{s['evaluations'].median():.0f}",
                f"{s['compute'].median():,.0f}",
                f"{m['wall_s'].median():.1f}",
                f"{m['memory_mb'].median():.1f}",
            ]
        )
    report = _report(root)
    p = report["params"]
    header = [
        "method",
        f"rounds, equal compute ({p['compute_budget']:,})",
        "forward / reverse / CG",
        "equivalents spent",
        f"rounds, step budget ({p['step_budget']:,})",
        "equivalents spent",
        "wall s (equal compute)",
        "memory MB",
    ]
    return table(header, rows)


def _sweep_report(root: Path) -> dict:
    return load_json(root, f"{SWEEP}/report.json")


def sweep_kinds(root: Path) -> str:
    """``hpo_sweep``, headline view: per kind and member, the best method of each side and the paired verdict on each
    scale; the crossover per kind and scale."""
    report = _sweep_report(root)
    view = report["headline_view"]
    out = []
    for kind, k in report["kinds"].items():
        size = {m["family"]: m["size"] for m in k["members"]}
        letter = "K" if kind == "lr_knots" else "G"
        best = {v["family"]: v for v in k["views"][view]["verdicts"]}

        def label(f, size=size, letter=letter, best=best):
            b = best[f["family"]]
            sides = f"{_method(b['best_hypergradient'])} vs {_method(b['best_search'])}"
            return f"`{f['family']}` ({letter} = {size[f['family']]:,}, d = {f['dim']:,}): {sides}"

        out.append(
            f"**{KIND_NAMES[kind]}** (`{kind}`)\n\n" + _paired_table(k["views"][view]["paired"], "member", label)
        )
    return "\n".join(out)


def _method(best: dict | None) -> str:
    return "not run" if best is None else f"`{best['method']}`"


def _crossover_sentence(paired: dict) -> str:
    cross = {k: paired["crossover"][k]["dim"] for k in SCALES}
    if len(set(cross.values())) == 1:
        return f"the same on all three scales: {_dim(cross['val_loss'])}"
    return "; ".join(f"{SCALES[k]}: {_dim(d)}" for k, d in cross.items())


def scale_verdicts(root: Path) -> str:
    """The verdicts in words, from the reports: the crossover per view and scale, and per kind of the sweep."""
    report = _report(root)
    head = report["headline_view"]
    lines = [
        f"- **At equal compute** (the headline, {report['params']['compute_budget']:,} forward-step equivalents per "
        f"run), the paired crossover is {_crossover_sentence(_view(report)['paired'])}.",
        f"- **At the step budget** ({report['params']['step_budget']:,} forward steps, reverse passes free) it is "
        f"{_crossover_sentence(_view(report, 'steps')['paired'])}.",
    ]
    sweep = _sweep_report(root)
    for kind, k in sweep["kinds"].items():
        paired = k["views"][head]["paired"]
        dims = ", ".join(f"{m['dim']:,}" for m in k["members"])
        lines.append(
            f"- **{KIND_TITLES[kind]}**, d = {dims}, at equal compute: the crossover is {_crossover_sentence(paired)}."
        )
    held = _view(report)["paired"]["crossover"]["test_error"]["dim"]
    lines.append(
        "- **Headline** (the held-out scale, test error, at equal compute, across the families): "
        + (
            f"hypergradients win from d = {held:,} on."
            if held is not None
            else "no crossover: the hypergradient side does not win the largest family on test error."
        )
    )
    return "\n".join(lines) + "\n"


TABLES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "scale-budget": (PAGE, scale_budget),
    "scale-families": (PAGE, scale_families),
    "scale-paired": (PAGE, scale_paired),
    "scale-step-view": (PAGE, scale_step_view),
    "scale-methods": (PAGE, scale_methods),
    "scale-sweep": (PAGE, sweep_kinds),
    "scale-verdicts": (PAGE, scale_verdicts),
}
