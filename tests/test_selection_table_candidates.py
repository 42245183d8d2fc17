"""The candidates stage (hyperlab.selection.table.candidates_experiment): table contract, determinism, failed
runs, params checks."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config
from hyperlab.training import network

CONTRACT = [
    "arch",
    "n_layers",
    "width_1",
    "width_2",
    "seed",
    "n_params",
    "flops",
    "train_error",
    "val_error",
    "test_error",
    "train_seconds",
    "latency_ms",
    "status",
]


TINY = {
    "layers": [1, 2],
    "widths": [8, 256],
    "n_seeds": 2,
    "epochs": 2,
    "batch_size": 50,
    "learning_rate": 0.003,
    "latency_batch": 128,
    "latency_repeats": 5,
    "latency_warmup": 1,
}


def _stage(tmp_path, mnist_npz, name, candidates_params, check=True):
    work = tmp_path / name
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    proc = run_stage("candidates", work, {"seed": 0, "candidates": candidates_params}, check=check)
    return work, proc


@pytest.mark.slow
def test_stage_table_contract_determinism_and_outputs(tmp_path, mnist_npz):
    work, _ = _stage(tmp_path, mnist_npz, "a", TINY)
    table = pd.read_csv(work / "data" / "candidates.csv", dtype={"arch": str})
    assert list(table.columns[: len(CONTRACT)]) == CONTRACT
    assert len(table) == 6 * 2 and set(table["seed"]) == {0, 1} and (table["status"] == "ok").all()
    row = table[(table["arch"] == "256-8")].iloc[0]
    assert (row["n_layers"], row["width_1"], row["width_2"]) == (2, 256, 8)
    assert (table.loc[table["n_layers"] == 1, "width_2"] == 0).all()
    assert row["n_params"] == network.n_params((256, 8)) and row["flops"] == network.forward_flops((256, 8))
    for col in ("train_error", "val_error", "test_error"):
        assert table[col].between(0, 1).all()
    assert (table["val_error"] < 0.85).all() and table["val_error"].min() < 0.3  # trained: below chance (0.9)
    assert (table["latency_ms"] > 0).all() and (table["train_seconds"] > 0).all()
    big = table["flops"] > table["flops"].median()
    assert table.loc[big, "latency_ms"].mean() > table.loc[~big, "latency_ms"].mean()

    metrics = json.loads((work / "plots" / "candidates" / "report.json").read_text())
    nets_mean = table.groupby("arch")["val_error"].mean()
    assert metrics["n_networks"] == 6 and metrics["n_failed"] == 0
    assert metrics["best_arch"] == nets_mean.idxmin()
    assert metrics["best_val_error"] == pytest.approx(nets_mean.min())
    assert metrics["latency_ms_min"] == pytest.approx(table["latency_ms"].min())
    front = pd.read_csv(work / "plots" / "candidates" / "pareto.csv", dtype={"arch": str})
    scatter = pd.read_csv(work / "plots" / "candidates" / "scatter.csv", dtype={"arch": str})
    assert len(scatter) == 6 and scatter["pareto"].sum() == len(front) >= 1
    assert front["latency_ms"].is_monotonic_increasing and front["val_error"].is_monotonic_decreasing
    assert metrics["best_arch"] in set(front["arch"])  # the most accurate network is on the front

    work2, _ = _stage(tmp_path, mnist_npz, "b", TINY)  # same params and seed: same errors
    again = pd.read_csv(work2 / "data" / "candidates.csv", dtype={"arch": str})
    pd.testing.assert_frame_equal(table[CONTRACT[:10]], again[CONTRACT[:10]])


@pytest.mark.slow
def test_stage_diverged_runs_become_failed_rows(tmp_path, mnist_npz, monkeypatch):
    """Every run diverges at learning rate 1e30 -- beyond the params range, so patched in past validation."""
    import importlib.util

    from conftest import MNIST_DATA, REPO
    from hyperlab import cli

    params = {**TINY, "widths": [8], "latency_repeats": 3}
    work = tmp_path / "nan"
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    (work / "params.yaml").write_text(json.dumps({"seed": 0, "data": MNIST_DATA, "candidates": params}))
    real = config.load_section
    monkeypatch.setattr(
        config,
        "load_section",
        lambda name, *args: (
            real(name, *args).model_copy(update={"learning_rate": 1e30}) if name == "candidates" else real(name, *args)
        ),
    )
    monkeypatch.chdir(work)
    spec = importlib.util.spec_from_file_location("stage_candidates", REPO / "stages" / "candidates.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    cli.run_stage(stage.main, name="candidates")
    table = pd.read_csv(work / "data" / "candidates.csv", dtype={"arch": str})
    assert len(table) == 4 and (table["status"] == "failed").all()
    assert table[["train_error", "val_error", "test_error"]].isna().all().all()
    assert (table["latency_ms"] > 0).all()
    metrics = json.loads((work / "plots" / "candidates" / "report.json").read_text())
    assert metrics["n_failed"] == 4 and metrics["best_val_error"] is None


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"widths": [16, 0]}, "candidates.widths: got [16, 0]; must be >= 1"),
        ({"layers": [1, 1]}, "candidates.layers: got [1, 1]; must not repeat a value"),
        ({"epochs": 0}, "candidates.epochs: got 0; must be >= 1"),
        ({"learning_rate": -1}, "candidates.learning_rate: got -1; must be >= 1e-08"),
        ({"colour": 1}, "candidates.colour: unknown key"),
        ({"layers": [1, 2, 3, 4, 5, 6], "widths": list(range(1, 11))}, "candidates.layers"),
    ],
)
def test_bad_params_rejected(bad, fragment):
    with pytest.raises(config.ConfigError) as err:
        config.parse_section(config.CandidatesParams, bad, "candidates")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_stage_rejects_batch_larger_than_training_split(tmp_path, mnist_npz):
    work, proc = _stage(tmp_path, mnist_npz, "bad", {"batch_size": 100000}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: params.yaml: candidates.batch_size: got 100000")
    assert not (work / "data" / "candidates.csv").exists()
