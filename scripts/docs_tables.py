"""The results tables of the HPO, GP-sampler, learning-to-learn and search pages, generated from the plot data.

A page holds each table between two markers::

    <!-- generated: hpo-results -->
    | ... |
    <!-- end generated -->

``python scripts/docs_tables.py`` rewrites every block from the files under ``plots/``;
``--check`` only reports the blocks that differ (exit 1). ``tests/test_docs_tables.py`` runs the
check on the committed pages, so a rerun of a stage that moves a number fails the tests until
the pages are regenerated. Only deterministic columns are tabled: wall-clock figures change
with every run and the machine, and stay in the CSVs (each report's ``timing_dependent``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _num(x: float, digits: int = 3) -> str:
    return "NaN" if pd.isna(x) else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _bold_best(values: list[float]) -> list[str]:
    best = np.nanmin(values)
    return [f"**{_num(v)}**" if v == best else _num(v) for v in values]


def hpo_results(root: Path) -> str:
    """``hpo``: per method, the deterministic columns of ``plots/hpo/summary.csv`` (medians over seeds)."""
    s = pd.read_csv(root / "plots/hpo/summary.csv")
    report = json.loads((root / "plots/hpo/report.json").read_text())
    tuned = report["params"].get("tune_lr", True)
    rows = []
    for r, val in zip(s.itertuples(), _bold_best(s["val_loss"].tolist())):
        h = [_num(r.log_l2_0, 1), _num(r.log_l2_1, 1), _num(r.log_lr, 2)]
        if r.method in ("ift", "hypernet") or not tuned:
            h[2] = f"({h[2]} fixed)"
        rows.append(
            [
                f"`{r.method}`",
                val,
                f"[{_num(r.val_loss_q1)}, {_num(r.val_loss_q3)}]",
                _pct(r.test_error),
                ", ".join(h),
                f"{r.memory_mb:.1f}",
            ]
        )
    budget = report["params"]["step_budget"]
    header = [
        "method",
        f"val CE at {budget:,} steps",
        "quartiles",
        "test error",
        "h found (log L2₁, log L2₂, log lr)",
        "memory MB",
    ]
    return _table(header, rows)


def best_at(trace: pd.DataFrame, steps: int) -> pd.Series:
    """Per method, the median over seeds of the best validation loss within ``steps`` inner steps."""
    within = trace[trace["inner_steps"] <= steps]
    per_seed = within.groupby(["method", "seed"])["val_loss"].min()
    return per_seed.groupby(level="method").median()


#: The step counts of the ``hpo`` progress table, and the methods it follows.
PROGRESS_STEPS = (240, 480, 640, 800, 1200, 1600)
PROGRESS_METHODS = ("gp_ei", "tpe", "random", "exact", "kpiece4", "drmad")


def hpo_progress(root: Path) -> str:
    trace = pd.read_csv(root / "plots/hpo/trace.csv")
    cols = {k: best_at(trace, k) for k in PROGRESS_STEPS}
    rows = [[f"`{m}`", *(_num(cols[k].get(m, np.nan)) for k in PROGRESS_STEPS)] for m in PROGRESS_METHODS]
    return _table(["inner steps", *(f"{k:,}" for k in PROGRESS_STEPS)], rows)


def _scale_report(root: Path) -> dict:
    return json.loads((root / "plots/hpo_scale/report.json").read_text())


def _side(best: dict | None) -> str:
    if best is None:
        return "not run"
    q = f"[{_num(best['val_loss_q1'])}, {_num(best['val_loss_q3'])}]"
    return f"`{best['method']}` {_num(best['val_loss'])} {q}, test {_pct(best['test_error'])}"


def scale_families(root: Path) -> str:
    """``hpo_scale``: per family, the best method of each side and the verdict of each rule."""
    report = _scale_report(root)
    paired = {f["family"]: f["scales"] for f in report["paired"]["families"]}
    rows = []
    for v in report["verdicts"]:
        val = paired[v["family"]]["val_loss"]
        if v["margin"] is None:
            median = f"{v['winner']} (the other side did not run)"
        else:
            median = f"{v['winner']}, by {v['margin']:.3f}" + ("" if v["clear"] else " (quartiles overlap)")
        pair = f"{val['winner'] or 'none'} ({val.get('hypergradient_ahead', 0)} : {val.get('search_ahead', 0)})"
        rows.append(
            [f"`{v['family']}` ({v['dim']:,})", _side(v["best_hypergradient"]), _side(v["best_search"]), median, pair]
        )
    header = [
        "family (d)",
        "best hypergradient method",
        "best search method",
        "median rule",
        "paired rule (seeds ahead, hypergradient : search)",
    ]
    return _table(header, rows)


def scale_paired(root: Path) -> str:
    """``hpo_scale``: the paired verdict on each scale per family, and the crossover on each scale."""
    report = _scale_report(root)
    paired = report["paired"]
    scales = {"val_loss": "validation CE (objective)", "test_loss": "test CE", "test_error": "test error"}
    rows = []
    for f in paired["families"]:
        cells = []
        for key in scales:
            s = f["scales"][key]
            counts = f" ({s['hypergradient_ahead']} : {s['search_ahead']})" if s.get("seeds") else ""
            cells.append(f"{s['winner'] or 'none'}{counts}")
        rows.append([f"`{f['family']}` ({f['dim']:,})", *cells])
    cross = paired["crossover"]
    rows.append(["**crossover**", *(f"d = {cross[k]['dim']:,}" if cross[k]["dim"] else "none" for k in scales)])
    return _table(["family (d)", *scales.values()], rows)


def scale_methods(root: Path) -> str:
    """``hpo_scale``: every method's median validation CE per family (bold: the family's best)."""
    s = pd.read_csv(root / "plots/hpo_scale/summary.csv")
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
                cells.append(f"**{_num(v)}**" if v == best[f] else _num(v))
        rows.append([f"`{method}`", *cells])
    return _table(["method", *(f"`{f}` {dims[f]:,}" for f in families)], rows)


def _sci(x: float) -> str:
    """Three significant digits at most; below 0.001 as a·10⁻ⁿ, as the pages write small regrets."""
    if x == 0:
        return "0"
    if abs(x) >= 1e-3:
        return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.4f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mantissa}·10{str(int(exponent)).translate(sup)}"


def _regret(problem: str, x: float) -> str:
    # the table's regrets are multiples of one validation digit (0.0005 for 2,000 digits): four decimals
    return f"{x:.4f}" if problem == "table" else _sci(x)


def bench_summary(root: Path) -> str:
    """``sampler_bench``: median final regret [IQR] per problem and sampler, and the share reaching the target."""
    s = pd.read_csv(root / "plots/sampler_bench/summary.csv")
    rows = []
    for problem, g in s.groupby("problem", sort=False):
        best = g["median_regret"].min()
        for r in g.itertuples():
            median = _regret(problem, r.median_regret)
            median = f"**{median}**" if r.median_regret == best else median
            uniform = r.sampler == "random" and problem == "table"
            name = f"`{r.sampler}`" + (" (uniform over networks)" if uniform else "")
            reached = f"{round(r.reached_target * r.repeats)}/{r.repeats}"
            iqr = f"[{_regret(problem, r.regret_q25)}, {_regret(problem, r.regret_q75)}]"
            rows.append([problem, name, f"{median} {iqr}", reached])
    return _table(["problem", "sampler", "median regret [IQR]", "reached target"], rows)


def bench_timing(root: Path) -> str:
    """``sampler_bench``: median suggest time after N completed trials, and GP-EI's ratio to TPE in the same run."""
    t = pd.read_csv(root / "plots/sampler_bench/timing.csv").pivot(
        index="completed_trials", columns="sampler", values="median_ms"
    )
    rows = [
        [f"{n:,}", f"{r.gp_ei:.1f}", f"{r.gp_ei_per_second:.1f}", f"{r.tpe:.1f}", f"{r.gp_ei / r.tpe:.1f}"]
        for n, r in zip(t.index, t.itertuples())
    ]
    return _table(["N completed", "`gp_ei` ms", "`gp_ei_per_second` ms", "`tpe` ms", "`gp_ei` / TPE"], rows)


def l2l_budget(root: Path) -> str:
    """``l2l_train``: per recipe and budget, each meta-seed's step-100 loss on the fresh val runs and its
    paired wins against tuned NAG and Adam (bold: every meta-seed at the bar)."""
    curve = pd.read_csv(root / "plots/l2l/budget.csv")
    seeds = sorted(curve.meta_seed.unique())
    runs = int(curve.runs.max())
    header = ["recipe", "meta-updates", *(f"meta-seed {m}: loss / wins vs NAG / vs Adam" for m in seeds)]
    header.append("every seed at the bar")
    rows = []
    for (recipe, n), d in curve.groupby(["recipe", "meta_updates"], sort=False):
        by_seed = d.set_index("meta_seed")
        cells = [f"{_num(r.val_loss, 4)} / {r.wins_vs_nag} / {r.wins_vs_adam}" for r in (by_seed.loc[m] for m in seeds)]
        rows.append([f"`{recipe}`", f"{n:,}", *cells, "**yes**" if d.reaches_bar.all() else "no"])
    first = curve.iloc[0]
    rows.append(["tuned NAG / Adam, same runs", "", f"{_num(first.nag_loss, 4)} / {_num(first.adam_loss, 4)}"])
    rows[-1] += [""] * (len(header) - len(rows[-1]))
    return _table(header, rows) + f"\nWins are out of {runs} paired runs.\n"


L2L_NAMES = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "nag": "NAG"}


def l2l_test(root: Path) -> str:
    """``l2l``: the base setting on the test split at the meta-training horizon and at the long horizon, per
    tuned baseline (its learning rate) and meta-seed (its paired wins against each baseline)."""
    final = pd.read_csv(root / "plots/l2l/final.csv")
    base = final[final.setting == "base"].set_index("optimizer")
    long_name = next((s for s in final.setting.unique() if str(s).startswith("steps")), None)
    long = final[final.setting == long_name].set_index("optimizer") if long_name else None
    n, n_long = int(base.step.iloc[0]), int(long.step.iloc[0]) if long is not None else None
    names = [o for o in base.index if o != "lstm"]
    best = min(base.loc[names, "final_mean"])
    header = [f"step {n}", "loss ± std", "wins vs SGD", "vs Adam", "vs RMSprop", "vs NAG"]
    if long is not None:
        header += [f"step {n_long} loss", f"wins vs NAG at {n_long}"]
    rows = []
    for name in names:
        r = base.loc[name]
        label = (
            f"LSTM meta-seed {name[len('lstm_s') :]}"
            if name.startswith("lstm_s")
            else f"{L2L_NAMES[name]} (lr {r.lr:g})"
        )
        loss = _num(r.final_mean, 4)
        row = [label, (f"**{loss}**" if r.final_mean == best else loss) + f" ± {_num(r.final_std, 4)}"]
        lstm = name.startswith("lstm_s")
        row += [str(int(r[f"wins_vs_{b}"])) if lstm else "" for b in ("sgd", "adam", "rmsprop", "nag")]
        if long is not None:
            row += [_num(long.loc[name].final_mean, 4), str(int(long.loc[name].wins_vs_nag)) if lstm else ""]
        rows.append(row)
    return _table(header, rows)


def l2l_verdict(root: Path) -> str:
    """``l2l_train`` and ``l2l``: the setting the curve chose, the verdict on val, and the test-split verdict."""
    chosen = json.loads((root / "plots/l2l/meta_report.json").read_text())["chosen"]
    base = json.loads((root / "plots/l2l/report.json").read_text())["settings"]["base"]
    best = base["best_baseline"]
    n_seeds = len(base["lstm_seeds"])
    test = (
        f"On the test split, at that setting, {base['seeds_reaching_bar']} of {n_seeds} meta-seeds beat every "
        f"tuned baseline in at least 75 % of the paired runs (fewest wins of any seed against any baseline: "
        f"{base['min_wins_vs_every_baseline']}); the best tuned baseline is {L2L_NAMES[best]} "
        f"({_num(base[best]['loss'], 4)}), the meta-seeds' losses {_num(base['lstm_seed_spread']['min'], 4)}"
        f"–{_num(base['lstm_seed_spread']['max'], 4)}."
    )
    on_val = (
        f"every meta-seed reaches the bar at `{chosen['recipe']}` after {chosen['meta_updates']:,} meta-updates"
        if chosen["reproduced_on_val"]
        else f"no point reaches the bar within {chosen['largest_budget']:,} meta-updates (the released code "
        f"meta-trains {chosen['reference_meta_updates']:,})"
    )
    return (
        f"**On val, {on_val}.** The test split evaluates `{chosen['recipe']}` at {chosen['meta_updates']:,} "
        f"meta-updates (rule: {chosen['rule']}). {test}\n"
    )


TABLES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "hpo-results": ("docs/hpo.md", hpo_results),
    "hpo-progress": ("docs/hpo.md", hpo_progress),
    "scale-families": ("docs/hpo-scale.md", scale_families),
    "scale-paired": ("docs/hpo-scale.md", scale_paired),
    "scale-methods": ("docs/hpo-scale.md", scale_methods),
    "bench-summary": ("docs/gp-samplers.md", bench_summary),
    "bench-timing": ("docs/gp-samplers.md", bench_timing),
    "l2l-budget": ("docs/l2l.md", l2l_budget),
    "l2l-verdict": ("docs/l2l.md", l2l_verdict),
    "l2l-test": ("docs/l2l.md", l2l_test),
}


def _sibling(name: str):
    """The module ``scripts/<name>.py``, loaded by path (``scripts/`` is no package): run as a script or from the
    tests, this file finds its siblings the same way."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLES.update(_sibling("docs_tables_search").TABLES)  # the architecture-search page's blocks
TABLES.update(_sibling("docs_tables_hpo").TABLES)  # the HPO page's cost, wall-clock and accuracy blocks


def render(text: str, root: Path) -> str:
    """``text`` with every generated block rewritten from the files under ``root``."""

    def block(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"unknown generated table {name!r}; tables: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name][1](root) + m.group(4)

    return BLOCK.sub(block, text)


def stale(root: Path = REPO) -> list[str]:
    """The pages whose generated blocks differ from what the committed files give."""
    pages = sorted({page for page, _ in TABLES.values()})
    return [page for page in pages if render((root / page).read_text(), root) != (root / page).read_text()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale pages, write nothing")
    args = parser.parse_args()
    if args.check:
        pages = stale()
        for page in pages:
            print(f"{page}: a generated table differs from the committed files (python scripts/docs_tables.py)")
        sys.exit(1 if pages else 0)
    for page in sorted({page for page, _ in TABLES.values()}):
        path = REPO / page
        path.write_text(render(path.read_text(), REPO))


if __name__ == "__main__":
    main()
