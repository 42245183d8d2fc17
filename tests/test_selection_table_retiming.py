"""Stage ``latency`` end to end on a tiny space: every network re-timed in every round, nothing else."""

from __future__ import annotations

import pandas as pd

from conftest import run_stage
from hyperlab.selection.space.architectures import enumerate_space
from hyperlab.training import network


def test_every_network_is_retimed_once_per_round(tmp_path):
    candidates = {"layers": [1, 2], "widths": [16, 32], "latency_batch": 8, "latency_repeats": 3, "latency_warmup": 1}
    run_stage(
        "latency",
        tmp_path,
        {"seed": 0, "candidates": candidates, "search": {"latency_rounds": 2, "latency_gap_seconds": 0}},
    )
    frame = pd.read_csv(tmp_path / "data" / "latency.csv", dtype={"arch": str})
    names = sorted(network.arch_name(a) for a in enumerate_space([1, 2], [16, 32]))
    assert list(frame.columns) == ["arch", "round", "latency_ms"]
    assert sorted(frame["arch"].unique()) == names and len(names) == 2 + 4
    assert frame.groupby("round")["arch"].apply(sorted).to_dict() == {1: names, 2: names}
    assert (frame["latency_ms"] > 0).all()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "data/latency.csv",
        "params.yaml",
    ]
