"""The candidates stage end to end: training the space in several packs gives the table of one pack.

``candidates.max_pack_params`` only trades memory for compilations; a
network's initial weights, minibatch order and arithmetic do not depend on
which other networks share its compiled trainer, so every result column of
the table must be the same whether each network trains alone or all together
(the mean training loss up to float32 rounding).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from conftest import run_stage

pytestmark = pytest.mark.slow

TINY = {
    "layers": [1, 2],
    "widths": [8, 16],
    "n_seeds": 2,
    "epochs": 2,
    "batch_size": 50,
    "learning_rate": 0.003,
    "latency_batch": 64,
    "latency_repeats": 3,
    "latency_warmup": 1,
}
TIMINGS = ["train_seconds", "latency_ms"]  # measured on the machine: not results


def _table(tmp_path, mnist_npz, name: str, max_pack_params: int) -> tuple[pd.DataFrame, dict]:
    work = tmp_path / name
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    run_stage("candidates", work, {"seed": 0, "candidates": {**TINY, "max_pack_params": max_pack_params}})
    table = pd.read_csv(work / "data" / "candidates.csv", dtype={"arch": str})
    return table, json.loads((work / "plots" / "candidates" / "report.json").read_text())


def test_several_packs_train_the_same_networks_as_one(tmp_path, mnist_npz):
    one, one_report = _table(tmp_path, mnist_npz, "one", 10**9)
    # below the smallest network's parameters (all seeds): every network is a pack of its own
    each, each_report = _table(tmp_path, mnist_npz, "each", 1)
    assert one_report["n_packs"] == 1 and each_report["n_packs"] == one["arch"].nunique() == 6
    assert (one["status"] == "ok").all()
    assert list(each.columns) == list(one.columns)
    # errors are counts of wrong answers: exactly equal, as every shape and seed column
    exact = [c for c in one.columns if c not in (*TIMINGS, "final_train_loss")]
    pd.testing.assert_frame_equal(each[exact], one[exact], check_exact=True)
    # the mean training loss is a float32 sum, reduced in another order in another pack shape: float32 rounding
    pd.testing.assert_series_equal(each["final_train_loss"], one["final_train_loss"], check_exact=False, rtol=1e-5)
