"""The ``drmad`` params and stage end to end (:mod:`hyperlab.bilevel.experiments.drmad_experiment`).

In float64, as the library's tests.
"""

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
    """float64 for the test, then the global setting the test found.

    Not ``with jax.enable_x64(True)``: that sets a thread-local value, which the stage runner
    (``conftest.run_script_in_process``) reads and writes back as the *global* one, so every later
    test of the worker ran with x64 on (float32 results moved at 1e-6 against a fresh process).
    """
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield  # pytest runs the rest even when the test fails
    jax.config.update("jax_enable_x64", previous)


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


def _tiny(T=12, **raw):
    return config.parse_section(config.SECTIONS["drmad"], {"T": T, "pieces": [1, 3], "outer_steps": 4, **raw}, "drmad")


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    """The folder of one ``drmad`` stage run on the params of :func:`_tiny` (its other values are the
    defaults), shared: the stage test checks its outputs, and the tests of ``memory_table`` and
    ``val_surface`` read the tables it computed with those functions instead of compiling them again."""
    tmp_path = tmp_path_factory.mktemp("drmad")
    params = {
        "seed": 0,
        "drmad": {"T": 12, "pieces": [1, 3], "outer_steps": 4, "lr": 0.2, "momentum": 0.9, "quartic": 0.1},
    }
    assert config.parse_section(config.SECTIONS["drmad"], params["drmad"], "drmad") == _tiny()
    run_stage("drmad", tmp_path, params)
    return tmp_path


@pytest.mark.slow
def test_stage_writes_errors_per_K_outer_runs_and_the_figures(stage_run, monkeypatch):
    T, tmp_path = 12, stage_run
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
    memory = pd.read_csv(out / "memory.csv")
    assert list(memory.method) == ["exact", "K1", "K3", f"K{T}"]
    surface = pd.read_csv(out / "val_surface.csv")
    assert surface.L_val.min() >= 0 and surface.h.min() < exact.h.min()

    from hyperlab.plotting import drmad as plot_drmad

    monkeypatch.chdir(tmp_path)
    written = plot_drmad.render(config.FiguresParams(dpi=40))
    assert sorted(p.name for p in written) == sorted(
        ["drmad_outer.png", "drmad_outer_lr.png", "drmad_inner.png", "drmad_inner_time.png", "drmad_error.png"]
    )
    assert all((tmp_path / p).stat().st_size > 1000 for p in written)


def test_inner_paths_read_the_checkpoints_exactly_and_report_their_distance():
    from hyperlab.bilevel import drmad as dm
    from hyperlab.bilevel import reverse
    from hyperlab.bilevel.experiments import drmad_experiment as ex

    params = _tiny()
    inner = ex.inner_paths(params, [1, 3, params.T])
    true = inner[inner.path == "true"]
    assert (true.abs_err == 0).all() and (true.checkpoint == 1).all()
    for K in (1, 3):
        line = inner[inner.path == f"K={K}"]
        assert line.checkpoint.sum() == K + 1  # the rows the forward pass stored
        np.testing.assert_allclose(line.abs_err, np.abs(line.w.to_numpy() - true.w.to_numpy()), atol=0)
        assert (line.abs_err[line.checkpoint == 1] == 0).all()  # the line passes through its checkpoints
        assert line.abs_err.max() > 1e-3  # and leaves the momentum path in between
    # K = T pieces store every iterate: the reconstruction is the true path, bit for bit
    w0, hyper = np.array([params.w0]), dm.Hyper(np.array([params.h0]), np.log(params.lr), params.momentum)
    ckpt, _ = dm.momentum_checkpoints(ex.train_loss, w0, hyper, params.T, params.T)
    np.testing.assert_array_equal(np.asarray(reverse.interpolated_trajectory(ckpt, params.T))[:, 0], true.w)


@pytest.mark.slow  # it reads the stage run
def test_val_surface_is_the_outer_runs_objective(stage_run):
    from hyperlab.bilevel.experiments import drmad_experiment as ex

    params = _tiny()
    # the stage's tables of ex.outer_run(params, None) and ex.outer_run(params, 1)
    outer = {name: pd.read_csv(stage_run / f"plots/drmad/outer_{name}.csv") for name in ("exact", "K1")}
    for frame in outer.values():  # at each committed outer point: that row's L_val(w_T)
        np.testing.assert_allclose(ex.final_val_loss(params, frame.h, frame.lr), frame.L_val, rtol=1e-10)
    # w_0 = −h is the inner optimum: the run stays there for every α, so L_val = h²
    lrs = np.array([0.01, 0.1, 0.5])
    np.testing.assert_allclose(ex.final_val_loss(params, np.full(3, -params.w0), lrs), params.w0**2, rtol=1e-12)
    grid = ex.val_surface(params, outer, n=7)
    assert len(grid) == 49 and grid.h.nunique() == 7 and grid.lr.nunique() == 7
    for frame in outer.values():  # the grid spans every run
        assert grid.h.min() < frame.h.min() and frame.h.max() < grid.h.max()
        assert grid.lr.min() < frame.lr.min() and frame.lr.max() < grid.lr.max()


@pytest.mark.slow  # it reads the stage run
def test_memory_table_measures_one_more_vector_per_piece(stage_run):
    params = _tiny()
    # the stage's table of ex.memory_table(params, [1, 3, params.T])
    memory = pd.read_csv(stage_run / "plots/drmad/memory.csv").set_index("method")
    pieces = memory.drop("exact")
    assert list(pieces.checkpoint_rows) == [2, 4, params.T + 1] == list(pieces.formula_vectors)
    extra = pieces.measured_vectors - pieces.measured_vectors["K1"]
    np.testing.assert_allclose(extra, pieces.K - 1, atol=1.0)  # each piece costs one stored vector
    assert memory.measured_vectors["exact"] > params.T  # reverse mode keeps the whole trajectory
