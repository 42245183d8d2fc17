"""The ``drmad`` params and stage end to end (hyperlab.bilevel.experiments.drmad), in float64 as the library's tests."""

from __future__ import annotations

import json

import jax
import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize(
    "raw,key",
    [
        ({"pieces": [1, 200]}, "drmad.pieces"),
        ({"T": 10, "pieces": [1, 2, 16]}, "drmad.pieces"),
        ({"pieces": [2, 2]}, "drmad.pieces"),
        ({"pieces": [0]}, "drmad.pieces"),
        ({"momentum": 1.0}, "drmad.momentum"),
        ({"lr": -0.1}, "drmad.lr"),
        ({"T": 1}, "drmad.T"),
        ({"outer_optimizer": "rmsprop"}, "drmad.outer_optimizer"),
        ({"tune_lr": "yes"}, "drmad.tune_lr"),
        ({"K": 3}, "drmad.K"),
    ],
)
def test_bad_params_are_rejected_with_the_key(raw, key):
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")) as err:
        config.parse_section(config.SECTIONS["drmad"], raw, "drmad")
    assert "\n" not in str(err.value)


def test_the_defaults_parse_with_drmad_among_the_pieces():
    params = config.parse_section(config.SECTIONS["drmad"], {}, "drmad")
    assert params.T == 100 and 1 in params.pieces and params.momentum == 0.9


def test_stage_rejects_bad_params_in_one_line(tmp_path):
    proc = run_stage("drmad", tmp_path, {"drmad": {"T": 10, "pieces": [1, 20]}}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: params.yaml: drmad.pieces: got 20")
    assert not (tmp_path / "metrics").exists()


@pytest.mark.slow
def test_stage_writes_errors_per_K_outer_runs_and_the_figures(tmp_path, monkeypatch):
    T = 12
    params = {
        "seed": 0,
        "drmad": {"T": T, "pieces": [1, 3], "outer_steps": 4, "lr": 0.2, "momentum": 0.9, "quartic": 0.1},
    }
    run_stage("drmad", tmp_path, params)
    metrics = json.loads((tmp_path / "plots/drmad/report.json").read_text())
    assert metrics["pieces"] == [1, 3, T]
    for K in ("1", "3", str(T)):
        entry = metrics["K"][K]
        assert entry["memory_vectors"] == int(K) + 1
        assert entry["rel_err"]["h"] < 1e-12  # quadratic toy: exact for every K
    assert metrics["exact"]["memory_vectors"] == T + 1
    assert all(v < 1e-10 for v in metrics["K"][str(T)]["rel_err"].values())
    assert all(v < 1e-10 for v in metrics["K"][str(T)]["rel_err_quartic"].values())
    assert metrics["K"]["1"]["rel_err"]["log_lr"] > 1e-3
    assert metrics["K"]["1"]["rel_err_quartic"]["h"] > 1e-6  # non-quadratic: h error appears

    out = tmp_path / "plots/drmad"
    exact = pd.read_csv(out / "outer_exact.csv")
    assert len(exact) == 5 and exact.h.iloc[0] == 1.5
    np.testing.assert_allclose(pd.read_csv(out / f"outer_K{T}.csv").h, exact.h, rtol=1e-10)
    inner = pd.read_csv(out / "inner.csv")
    assert set(inner.path) == {"true", "K=1", "K=3"} and len(inner) == 3 * (T + 1)
    line = inner[inner.path == "K=1"].w.to_numpy()
    np.testing.assert_allclose(np.diff(line, 2), 0, atol=1e-12)  # DrMAD's path is a straight line
    err = pd.read_csv(out / "error_quadratic.csv")
    assert list(err.K) == [1, 3, T] and list(err.memory_vectors) == [2, 4, T + 1]

    from hyperlab.plotting import drmad as plot_drmad

    monkeypatch.chdir(tmp_path)
    written = plot_drmad.render(config.FiguresParams(dpi=40))
    assert sorted(p.name for p in written) == sorted(
        ["drmad_outer.png", "drmad_outer_curves.png", "drmad_inner.png", "drmad_inner_time.png", "drmad_error.png"]
    )
    assert all((tmp_path / p).stat().st_size > 1000 for p in written)
