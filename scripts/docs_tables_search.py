"""The architecture-search page's generated blocks, from ``plots/search/`` (the ``compare`` stage's outputs).

``scripts/docs_tables.py`` loads this file by path and adds :data:`TABLES` to its own, so
``python scripts/docs_tables.py`` rewrites these blocks too and ``tests/test_docs_tables.py``
checks them. Every block is built from ``report.json``, ``final.csv`` and
``paired_verdicts.csv`` alone, so a rerun of ``compare`` that moves a number or a verdict makes
the page stale until it is regenerated.

The page states a paired verdict only where it holds on every table realization (the robust
rows of ``paired_verdicts.csv``, the same as ``report.json``'s ``paired_verdicts.robust``); every
other test with a winner on some realization is listed as *not robust*, with each
realization's outcome, and never stated.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package: loaded by path, it imports by name
from docs_tables_common import load_json, table  # noqa: E402

SOURCE = "plots/search"
PAGE = "docs/architecture-search.md"
#: The regrets of ``paired_verdicts.csv`` in the page's order, and how the page names each.
REGRETS = {
    "search": "search regret",
    "incumbent": "observed-incumbent regret",
    "recommendation": "recommendation regret",
    "budget": "regret under the latency budget",
}
#: The report's key prefix of each regret's columns (the incumbent's keep the unprefixed names).
PREFIX = {"search": "search_", "incumbent": "", "recommendation": "recommendation_", "budget": "budget_"}
#: The runtime-aware strategies beside their plain one: (plain, per second of training, per ms of latency).
COST_AWARE = (("gp_ei", "gp_ei_per_second", "gp_ei_per_ms_latency"), ("tpe", "tpe_per_second", "tpe_per_ms_latency"))
TESTS = {"vs_baseline": "one-sided, against the baseline", "pairwise": "two-sided, every pair"}


def _report(root: Path) -> dict:
    return load_json(root, f"{SOURCE}/report.json")


def _r(x: float) -> str:
    """A regret: multiples of one validation digit, so four decimals (NaN: never reached)."""
    return "—" if x is None or x != x else f"{x:.4f}"


def _median_ci(row: dict, kind: str) -> str:
    p = PREFIX[kind]
    return f"{_r(row[f'{p}median_regret'])} [{_r(row[f'{p}regret_ci_low'])}, {_r(row[f'{p}regret_ci_high'])}]"


def _label(report: dict, r: int) -> str:
    seeds = report["realizations"][r]["seeds"]
    return f"{r} (seeds {', '.join(map(str, seeds))})"


def search_realizations(root: Path) -> str:
    """Per table realization: its seeds, its best network, the latency budget and the feasible networks."""
    report = _report(root)
    rows = []
    for r, part in enumerate(report["realizations"]):
        rows.append(
            [
                _label(report, r) + (" — headline" if r == report["headline_realization"] else ""),
                str(part["networks"]),
                f"`{part['best_arch']}` ({part['best_val_error']:.4f})",
                f"{_r(part['target_regret'])}",
                f"{part['latency_budget_ms']:.3f}",
                str(part["n_feasible"]),
                f"`{part['best_feasible_arch']}` ({part['best_feasible_val_error']:.4f})",
                str(part["true_front_size"]),
            ]
        )
    header = [
        "realization",
        "networks",
        "best network (seed-mean val error)",
        "target regret",
        "latency budget (ms)",
        "networks within it",
        "best within it",
        "true front",
    ]
    n = report["n_trials"]
    reps = next(iter(report["strategies"].values()))["repeats"]
    return table(header, rows) + f"\nEvery strategy: {reps} studies of {n} trials per realization.\n"


def search_regrets(root: Path) -> str:
    """Per strategy and realization: the three final regrets, median [95 % bootstrap CI], and repeats per study."""
    report = _report(root)
    rows = []
    for s in report["strategies"]:
        for r, part in enumerate(report["realizations"]):
            row = part["strategies"][s]
            cells = [_median_ci(row, k) for k in ("search", "incumbent", "recommendation")]
            rows.append([f"`{s}`" if r == 0 else "", str(r), *cells, f"{row['repeats_per_study']:.1f}"])
    header = ["strategy", "realization", *(REGRETS[k] for k in ("search", "incumbent", "recommendation"))]
    return table([*header, "repeats / study"], rows)


def search_cost_aware(root: Path) -> str:
    """The runtime-aware strategies beside their plain sampler: search regret and budget regret per realization,
    and (headline realization) the incumbent's latency and the study's total training time."""
    report = _report(root)
    final = pd.read_csv(root / SOURCE / "final.csv").set_index("strategy")
    parts = report["realizations"]
    rows = []
    for group in COST_AWARE:
        for s in group:
            if s not in report["strategies"]:
                continue
            search = " / ".join(_r(p["strategies"][s]["search_median_regret"]) for p in parts)
            budget = " / ".join(_r(p["strategies"][s]["budget_median_regret"]) for p in parts)
            f = final.loc[s]
            rows.append([f"`{s}`", search, budget, f"{f.median_latency_ms:.3f}", f"{f.median_train_seconds_total:.1f}"])
    per = " / ".join(str(r) for r in range(len(parts)))
    header = [
        "strategy",
        f"search regret (realization {per})",
        f"budget regret (realization {per})",
        "incumbent's latency, ms (headline)",
        "training of the study, s (headline)",
    ]
    return table(header, rows)


def _outcome(g: pd.DataFrame, winner: str, loser: str) -> str:
    """Holm p and wins / ties / losses of the winner, per realization."""
    ps = " / ".join(f"{p:.3g}" for p in g["p_holm"])
    flip = g["a"].iloc[0] != winner
    wtl = " / ".join(f"{lo}–{t}–{w}" if flip else f"{w}–{t}–{lo}" for w, t, lo in zip(g.wins, g.ties, g.losses))
    return f"`{winner}` lower than `{loser}`: Holm p {ps}; wins–ties–losses {wtl}"


def _groups(root: Path) -> list[tuple[tuple, pd.DataFrame]]:
    table = pd.read_csv(root / SOURCE / "paired_verdicts.csv", keep_default_na=False)
    order = {k: i for i, k in enumerate(REGRETS)}
    groups = list(table.groupby(["regret", "test", "a", "b"], sort=False))
    return sorted(groups, key=lambda kg: (order.get(kg[0][0], len(order)), kg[0][1] != "vs_baseline"))


def search_verdicts(root: Path) -> str:
    """The robust paired verdicts (a winner with Holm p <= 0.05 on every realization), grouped by regret,
    then the not-robust ones (a winner on some realizations only, or different winners) with each outcome."""
    robust, split, none = [], [], 0
    n_real = _report(root)["table_realizations"]
    for (regret, test, a, b), g in _groups(root):
        winners = set(g["winner"])
        if winners == {""}:
            none += 1
        elif len(winners) == 1 and len(g) == n_real and bool(g["robust"].all()):
            w = winners.pop()
            robust.append(f"- {REGRETS[regret]} ({TESTS[test]}): {_outcome(g, w, b if w == a else a)}")
        else:
            cells = [f"`{w}` (p {p:.3g})" if w else f"none (p {p:.3g})" for w, p in zip(g["winner"], g["p_holm"])]
            split.append([REGRETS[regret], TESTS[test], f"`{a}` vs `{b}`", *cells])
    out = "**Robust verdicts** (hold on every realization; the only ones stated):\n\n"
    out += "\n".join(robust) + "\n" if robust else "none.\n"
    header = ["regret", "test", "pair", *(f"realization {r}: lower" for r in range(n_real))]
    out += "\n**Not robust** (a winner on some realizations only, or different winners; not stated):\n\n"
    out += table(header, split) if split else "none.\n"
    return out + f"\nNo winner on any realization: {none} tests.\n"


def _descriptive(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and not value.get("not_robust"):
        return [f"{k}: {v}" for k, v in value.items()]
    out = []
    for r, sentence in enumerate(value["per_realization"]):
        text = "; ".join(f"{k}: {v}" for k, v in sentence.items()) if isinstance(sentence, dict) else sentence
        out.append(f"realization {r}: {text}")
    return out


def search_descriptive(root: Path) -> str:
    """The descriptive verdicts (cost-aware vs plain at a common training time, the best strategy under the
    budget, the Pareto strategy's places, the re-measured latencies): stated where every realization gives the
    same outcome, else marked not robust with each realization's reading."""
    lines = []
    for key, value in _report(root)["verdicts"].items():
        robust = not (isinstance(value, dict) and value.get("not_robust"))
        lines.append(f"- `{key}` — {'holds on every realization' if robust else '**not robust**'}:")
        lines += [f"  - {t}" for t in _descriptive(value)]
    return "\n".join(lines) + "\n"


def search_fronts(root: Path) -> str:
    """Per strategy and realization: the median log hypervolume ratio and share of the true front evaluated."""
    report = _report(root)
    parts = report["realizations"]
    rows = []
    for s in report["strategies"]:
        hv = " / ".join(f"{p['strategies'][s]['median_hv_ratio_log']:.3f}" for p in parts)
        share = " / ".join(f"{p['strategies'][s]['median_front_share']:.2f}" for p in parts)
        rows.append([f"`{s}`", hv, share])
    per = " / ".join(str(r) for r in range(len(parts)))
    return table(["strategy", f"HV ratio, log (realization {per})", f"front share (realization {per})"], rows)


_DEPTH = {1: "one", 2: "two", 3: "three"}


def candidates_summary(root: Path) -> str:
    """``candidates``: the table's size, best network, seed noise, latency range and true front, and how far
    latency is from proportional to FLOPs (``plots/candidates/report.json`` and ``scatter.csv``)."""
    report = load_json(root, "plots/candidates/report.json")
    nets = pd.read_csv(root / "plots/candidates/scatter.csv", dtype={"arch": str})
    lat, flops = nets["latency_ms"], nets["flops"]
    front = nets[nets["pareto"].astype(bool)].sort_values("latency_ms")
    depths = front["n_layers"].value_counts().sort_index(ascending=False)
    by_depth = ", ".join(f"{n} with {_DEPTH.get(int(d), str(d))}" for d, n in depths.items())
    first = front.iloc[0]
    rows = [
        ["networks × seeds, failed rows", f"{report['n_networks']} × {report['n_seeds']}, {report['n_failed']}"],
        [
            "best seed-mean validation error",
            f"**{report['best_val_error']:.4f}** (`{report['best_arch']}`; test error {report['best_test_error']:.4f})",
        ],
        ["seed-to-seed std of a network's validation error (median)", f"{report['val_error_seed_std_median']:.4f}"],
        [
            "latency range (seed mean, batch of 256)",
            f"{lat.min():.2f}–{lat.max():.2f} ms (≈ {lat.max() / lat.min():.0f}×, against "
            f"≈ {flops.max() / flops.min():.0f}× in FLOPs)",
        ],
        [
            "true Pareto front of (validation error, latency)",
            f"{len(front)} networks ({by_depth} hidden layers), from `{first.arch}` ({first.val_error:.3f} at "
            f"{first.latency_ms:.2f} ms) to `{front.iloc[-1].arch}`",
        ],
    ]
    slope, intercept = np.polyfit(flops, lat, 1)
    top = nets["val_error"].nsmallest(10)
    prose = (
        f"\nA straight-line fit of seed-mean latency on FLOPs has an intercept of {intercept:.2f} ms, against the "
        f"smallest network's {lat.min():.2f} ms. The ten best networks span {top.min():.4f}–{top.max():.4f} in "
        "seed-mean validation error.\n"
    )
    return table(["", "value"], rows) + prose


TABLES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "search-realizations": (PAGE, search_realizations),
    "search-regrets": (PAGE, search_regrets),
    "search-verdicts": (PAGE, search_verdicts),
    "search-cost-aware": (PAGE, search_cost_aware),
    "search-descriptive": (PAGE, search_descriptive),
    "search-fronts": (PAGE, search_fronts),
    "candidates-summary": ("docs/candidates.md", candidates_summary),
}
