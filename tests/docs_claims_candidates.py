"""The checks of ``docs/candidates.md``'s comparative sentences against the committed table and its report.

Registered by ``tests/test_docs_claims.py`` as :mod:`docs_claims_hpo` is. The page's summary block is generated
(``scripts/docs_tables.py``); these are the sentences around it. The speed and accuracy comparisons with
scikit-learn and the compute bound are benchmarks (``bench/candidates_vs_sklearn.py``,
``bench/candidates_roofline.py``) whose outputs are not committed: :data:`NOT_CLAIMS` lists them with that reason.
"""

from __future__ import annotations

import numpy as np
from docs_claims_hpo import paragraphs
from docs_claims_hpo_scale import Check, _unless

PAGE = "docs/candidates.md"


def _nets(data):
    return data.csv("plots/candidates/scatter.csv")


def intercept_at_least_the_smallest_latency(data) -> list[str]:
    nets = _nets(data)
    _, intercept = np.polyfit(nets.flops, nets.latency_ms, 1)
    smallest = float(nets.latency_ms.min())
    return _unless(intercept >= smallest, f"intercept {intercept:.3f} ms, smallest network {smallest:.3f} ms")


def top_flat_within_seed_noise(data) -> list[str]:
    """The ten best networks span between half and twice the median seed-to-seed std, and the two table
    realizations of the search stage (disjoint seed pairs) have different best networks."""
    top = _nets(data).val_error.nsmallest(10)
    std = data.json("plots/candidates/report.json")["val_error_seed_std_median"]
    span = float(top.max() - top.min())
    out = _unless(0.5 * std <= span <= 2 * std, f"span {span:.4f} against a seed std of {std:.4f}")
    best = [p["best_arch"] for p in data.json("plots/search/report.json")["realizations"]]
    return out + _unless(len(set(best)) > 1, f"every realization's best network is {best[0]}")


def committed_wall_time(data) -> list[str]:
    r = data.json("plots/candidates/report.json")
    got = [
        r["n_seeds"],
        *(round(r[k]) for k in ("wall_seconds", "compile_seconds", "train_seconds", "latency_seconds")),
    ]
    return _unless(got == [4, 690, 71, 569, 38], f"seeds, wall, compile, train, latency seconds {got}")


def latencies_move(data) -> list[str]:
    """``512-512-512``'s per-seed latencies in the table and its two ``latency`` rounds, as the page gives them."""
    table = data.csv("data/candidates.csv")
    seeds = table[table.arch.astype(str) == "512-512-512"].latency_ms
    rounds = data.csv("data/latency.csv")
    again = rounds[rounds.arch.astype(str) == "512-512-512"].sort_values("round").latency_ms
    got = [f"{seeds.min():.2f}", f"{seeds.max():.2f}", *(f"{v:.2f}" for v in again)]
    return _unless(len(seeds) == 4 and got == ["2.72", "3.39", "3.24", "3.37"], f"512-512-512's latencies {got}")


CLAIMS: list[tuple[str, str, Check]] = [
    (PAGE, "Small networks sit well above proportionality in latency", intercept_at_least_the_smallest_latency),
    (PAGE, "the top of the table is flat within seed noise", top_flat_within_seed_noise),
    (PAGE, "Stage wall time of the committed run", committed_wall_time),
    (PAGE, "Absolute latencies move with the machine's load", latencies_move),
]

NOT_CLAIMS = {
    "The packed trainer is 2.0× faster than scikit-learn": "bench/candidates_vs_sklearn.py, not a committed file",
    "It runs at 3.0× the compute lower bound": "bench/candidates_roofline.py, not a committed file",
    "contracts over only the batch (100) and runs well below peak": "a profile of a loaded run, not a committed file",
    "to trade memory for more compilations": "what a setting trades, not a result",
}

SCOPES = {PAGE: lambda text: paragraphs(text, "Results", "Verdicts", "Limits")}
