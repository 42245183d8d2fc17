"""The ``bilevel`` stage end to end (hyperlab.bilevel.experiments.order_experiment).

Every order, and the exact reference.
"""

from __future__ import annotations

import json

import jax
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab.bilevel import closed_form
from hyperlab.config import FiguresParams

TINY = {
    "seed": 0,
    "order": 2,
    "bilevel": {
        "orders": [0, 1, 2],
        "dim": 1,
        "inner_lr": 0.1,
        "inner_steps": 1,
        "outer_optimizer": "sgd",
        "outer_lr": 0.2,
        "outer_steps": 30,
        "h0": 1.0,
        "w0": 1.0,
        "val_tol": 1e-3,
    },
}


@pytest.mark.slow
def test_stage_writes_every_order_the_exact_reference_and_the_figures(tmp_path, monkeypatch):
    proc = run_stage("bilevel", tmp_path, TINY)
    assert f"bilevel ran on {jax.default_backend()} (" in proc.stderr  # every JAX stage says where it ran
    metrics = json.loads((tmp_path / "plots/bilevel/report.json").read_text())
    tables = {n: pd.read_csv(tmp_path / f"plots/bilevel/order_{n}.csv") for n in (0, 1, 2)}
    exact = pd.read_csv(tmp_path / "plots/bilevel/exact.csv")
    main = pd.read_csv(tmp_path / "plots/bilevel/main.csv")

    assert metrics["order"] == 2
    # n inner steps shrink the hypergradient on the best-response line by b_n = 1 - (1 - 2 eta)^n
    for n in (0, 1, 2):
        assert metrics["orders"][str(n)]["step_factor"] == pytest.approx(1 - (1 - 2 * 0.1) ** n, rel=1e-6)
    assert metrics["step_factor"] == pytest.approx(1 - 0.8**2, rel=1e-6) and metrics["exact"]["step_factor"] == 1
    assert all(len(t) == 31 for t in tables.values()) and len(exact) == 31
    pd.testing.assert_frame_equal(main, tables[2])
    # Order 0: h frozen at h0, w slides down to w*(h0) = -1 (w_t = 0.8^t (w0 + h0) - h0), L_val -> 1.
    assert (tables[0]["h"] == 1.0).all() and metrics["orders"]["0"]["steps_to_tol"] is None
    assert metrics["orders"]["0"]["final_L_val"] == pytest.approx((2 * 0.8**30 - 1) ** 2, rel=1e-5)
    # Start hypergradients against the closed form: g_n(1, 1) = 2 b_n^2 - 2 b_n a^n, exact 2h0 = 2.
    for n in (0, 1, 2):
        g = closed_form.hypergrad(1.0, 1.0, n, 0.1)
        assert tables[n]["hypergrad_norm"][0] == pytest.approx(abs(g), rel=1e-5)
        assert metrics["orders"][str(n)]["hypergrad_error_at_start"] == pytest.approx(abs(g - 2.0), rel=1e-5)
    assert metrics["exact"]["hypergrad_error_at_start"] == 0.0
    assert metrics["orders"]["1"]["hypergrad_cosine_at_start"] == -1.0  # g_1 points the wrong way at the start
    assert metrics["steps_to_tol"] is not None and metrics["exact"]["steps_to_tol"] < metrics["steps_to_tol"]
    assert metrics["rate"] == pytest.approx(closed_form.rate(2, 0.1, 0.2, 1), rel=1e-5)
    # metrics/ holds only the headline, taken from the report
    assert json.loads((tmp_path / "metrics/bilevel.json").read_text()) == {
        "final_L_val": metrics["final_L_val"],
        "steps_to_tol": metrics["steps_to_tol"],
        "exact_steps_to_tol": metrics["exact"]["steps_to_tol"],
    }

    # Another main order changes the headline metrics; orders that left the params leave no table behind.
    run_stage("bilevel", tmp_path, {**TINY, "order": 1, "bilevel": {**TINY["bilevel"], "orders": [1, 2]}})
    metrics1 = json.loads((tmp_path / "plots/bilevel/report.json").read_text())
    assert metrics1["order"] == 1 and metrics1["final_L_val"] != metrics["final_L_val"]
    assert sorted(p.name for p in (tmp_path / "plots/bilevel").glob("*.csv")) == [
        "exact.csv",
        "main.csv",
        "order_1.csv",
        "order_2.csv",
    ]

    from hyperlab.plotting import bilevel as plots

    monkeypatch.chdir(tmp_path)
    written = plots.render(FiguresParams(dpi=40))
    assert [p.name for p in written] == ["bilevel_surfaces.png", "bilevel_curves.png"]
    assert all((tmp_path / p).stat().st_size > 1000 for p in written)


@pytest.mark.parametrize(
    "top,section,key",
    [
        ({"order": -1}, {}, "order: got -1; must be >= 0"),
        ({"order": 1.5}, {}, "order: got 1.5; must be integer"),
        ({"order": 7}, {}, "order: got 7; must be one of bilevel.orders (0, 1, 2)"),
        ({"order": 1}, {"orders": [1, 1]}, "bilevel.orders: got [1, 1]; must not repeat a value"),
        ({"order": 1}, {"dim": 2, "h0": [1.0, 2.0, 3.0]}, "bilevel.h0: got 3 values"),
        ({"order": 1}, {"inner_lr": 1.5}, "bilevel.inner_lr: got 1.5; must be < 1"),
    ],
)
def test_bad_params_are_refused_in_one_line_before_any_output(tmp_path, top, section, key):
    params = {**TINY, **top, "bilevel": {**TINY["bilevel"], **section}}
    proc = run_stage("bilevel", tmp_path, params, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], proc.stderr
    assert not (tmp_path / "metrics").exists()
