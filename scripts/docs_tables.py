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
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package: its modules import by name
from docs_tables_common import bold_best, load_json, num, pct, sci, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def hpo_results(root: Path) -> str:
    """``hpo``: per method, the deterministic columns of ``plots/hpo/summary.csv`` (medians over seeds)."""
    s = pd.read_csv(root / "plots/hpo/summary.csv")
    report = load_json(root, "plots/hpo/report.json")
    tuned = report["params"].get("tune_lr", True)
    rows = []
    for r, val in zip(s.itertuples(), bold_best(s["val_loss"].tolist())):
        h = [num(r.log_l2_0, 1), num(r.log_l2_1, 1), num(r.log_lr, 2)]
        if r.method in ("ift", "hypernet") or not tuned:
            h[2] = f"({h[2]} fixed)"
        rows.append(
            [
                f"`{r.method}`",
                val,
                f"[{num(r.val_loss_q1)}, {num(r.val_loss_q3)}]",
                pct(r.test_error),
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
    return table(header, rows)


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
    rows = [[f"`{m}`", *(num(cols[k].get(m, np.nan)) for k in PROGRESS_STEPS)] for m in PROGRESS_METHODS]
    return table(["inner steps", *(f"{k:,}" for k in PROGRESS_STEPS)], rows)


def _regret(problem: str, x: float) -> str:
    # the table's regrets are multiples of one validation digit (0.0005 for 2,000 digits): four decimals
    return f"{x:.4f}" if problem == "table" else sci(x)


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
    return table(["problem", "sampler", "median regret [IQR]", "reached target"], rows)


def bench_timing(root: Path) -> str:
    """``sampler_bench``: median suggest time after N completed trials, and GP-EI's ratio to TPE in the same run."""
    t = pd.read_csv(root / "plots/sampler_bench/timing.csv").pivot(
        index="completed_trials", columns="sampler", values="median_ms"
    )
    rows = [
        [f"{n:,}", f"{r.gp_ei:.1f}", f"{r.gp_ei_per_second:.1f}", f"{r.tpe:.1f}", f"{r.gp_ei / r.tpe:.1f}"]
        for n, r in zip(t.index, t.itertuples())
    ]
    return table(["N completed", "`gp_ei` ms", "`gp_ei_per_second` ms", "`tpe` ms", "`gp_ei` / TPE"], rows)


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
        cells = [f"{num(r.val_loss, 4)} / {r.wins_vs_nag} / {r.wins_vs_adam}" for r in (by_seed.loc[m] for m in seeds)]
        rows.append([f"`{recipe}`", f"{n:,}", *cells, "**yes**" if d.reaches_bar.all() else "no"])
    first = curve.iloc[0]
    rows.append(["tuned NAG / Adam, same runs", "", f"{num(first.nag_loss, 4)} / {num(first.adam_loss, 4)}"])
    rows[-1] += [""] * (len(header) - len(rows[-1]))
    return table(header, rows) + f"\nWins are out of {runs} paired runs.\n"


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
        loss = num(r.final_mean, 4)
        row = [label, (f"**{loss}**" if r.final_mean == best else loss) + f" ± {num(r.final_std, 4)}"]
        lstm = name.startswith("lstm_s")
        row += [str(int(r[f"wins_vs_{b}"])) if lstm else "" for b in ("sgd", "adam", "rmsprop", "nag")]
        if long is not None:
            row += [num(long.loc[name].final_mean, 4), str(int(long.loc[name].wins_vs_nag)) if lstm else ""]
        rows.append(row)
    return table(header, rows)


def l2l_verdict(root: Path) -> str:
    """``l2l_train`` and ``l2l``: the setting the curve chose, the verdict on val, and the test-split verdict."""
    chosen = load_json(root, "plots/l2l/meta_report.json")["chosen"]
    base = load_json(root, "plots/l2l/report.json")["settings"]["base"]
    best = base["best_baseline"]
    n_seeds = len(base["lstm_seeds"])
    test = (
        f"On the test split, at that setting, {base['seeds_reaching_bar']} of {n_seeds} meta-seeds beat every "
        f"tuned baseline in at least 75 % of the paired runs (fewest wins of any seed against any baseline: "
        f"{base['min_wins_vs_every_baseline']}); the best tuned baseline is {L2L_NAMES[best]} "
        f"({num(base[best]['loss'], 4)}), the meta-seeds' losses {num(base['lstm_seed_spread']['min'], 4)}"
        f"–{num(base['lstm_seed_spread']['max'], 4)}."
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
TABLES.update(_sibling("docs_tables_hpo_scale").TABLES)  # the HPO-at-scale page's blocks (hpo_scale, hpo_sweep)


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
