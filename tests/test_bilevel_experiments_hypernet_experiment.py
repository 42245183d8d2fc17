"""The ``hypernet`` params and stage end to end (hyperlab.bilevel.experiments.hypernet_experiment)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config


@pytest.mark.parametrize(
    "raw, key, words",
    [
        ({"sigma": 0}, "hypernet.sigma", "must be >= 0.0001"),
        ({"sigma": -0.5}, "hypernet.sigma", "must be >= 0.0001"),
        ({"h_range": [2.0, -2.0]}, "hypernet.h_range", "low < high"),
        ({"h_range": [1.0, 1.0]}, "hypernet.h_range", "low < high"),
        ({"h_range": [0.0, 1.0, 2.0]}, "hypernet.h_range", "low < high"),
        ({"kinds": ["conv"]}, "hypernet.kinds", "allowed: linear, mlp"),
        ({"kinds": ["mlp", "mlp"]}, "hypernet.kinds", "must not repeat"),
        ({"variants": ["joint"]}, "hypernet.variants", "allowed: global, local"),
        ({"hidden": [32, 0]}, "hypernet.hidden", "must be >= 1"),
        ({"local_steps": 0}, "hypernet.local_steps", "must be >= 1"),
        ({"batch": 1.5}, "hypernet.batch", "must be integer"),
        ({"sigmaa": 0.5}, "hypernet.sigmaa", "unknown key"),
    ],
)
def test_bad_params_are_rejected(raw, key, words):
    with pytest.raises(config.ConfigError) as err:
        config.parse_section(config.HypernetParams, raw, "hypernet")
    message = str(err.value)
    assert message.startswith(f"params.yaml: {key}:") and words in message and "\n" not in message


TINY = {
    "kinds": ["linear", "mlp"],
    "variants": ["global", "local"],
    "hidden": [8],
    "h_range": [-1.0, 1.0],
    "h0": 0.8,
    "sigma": 0.3,
    "batch": 16,
    "phi_lr": 0.1,
    "h_lr": 0.1,
    "global_phi_steps": 300,
    "global_h_steps": 50,
    "local_steps": 200,
    "n_seeds": 2,
}


@pytest.mark.slow
def test_stage_writes_every_run_and_the_figures_and_drops_runs_left_out(tmp_path, monkeypatch):
    run_stage("hypernet", tmp_path, {"seed": 3, "hypernet": TINY})
    metrics = json.loads((tmp_path / "plots" / "hypernet" / "report.json").read_text())
    assert metrics["n_seeds"] == 2 and metrics["h_range"] == [-1.0, 1.0]
    for name in ("global_linear", "global_mlp", "local_linear", "local_mlp"):
        m = metrics[name]
        assert {"rms_range", "rms_near_h", "final_h", "l_val", "l_val_true", "steps_to_tol"} <= set(m)
        assert m["rms_range_max"] >= m["rms_range"] >= 0
        assert m["l_val_true"] >= m["final_h"] ** 2 * (1 - 1e-6)  # mean of h^2 >= (mean h)^2
        curve = pd.read_csv(tmp_path / "plots" / "hypernet" / "curves" / f"{name}.csv")
        np.testing.assert_allclose(curve["w_star"], -curve["h"], rtol=1e-6)
        assert curve["h"].min() == -1.5 and curve["h"].max() == 1.5  # the range padded by a quarter
        path = pd.read_csv(tmp_path / "plots" / "hypernet" / "paths" / f"{name}.csv")
        assert path["h_hat"].iloc[0] == pytest.approx(0.8)
        assert len(path) == (51 if name.startswith("global") else 201)
        np.testing.assert_allclose(path["l_val"], path["w_phi_h_hat"] ** 2, rtol=1e-5)
        assert abs(path["h_hat"].iloc[-1]) < 0.1
    assert metrics["global_linear"]["A"] == pytest.approx(-1.0, abs=1e-2)
    assert abs(metrics["global_linear"]["b"]) < 1e-2
    assert metrics["global_linear"]["rms_range"] < 1e-2
    # The global curve is sampled on exactly the range; the local one around the final h_hat.
    curve = pd.read_csv(tmp_path / "plots" / "hypernet" / "curves" / "global_mlp.csv")
    assert curve.loc[curve["sampled"] == 1, "h"].between(-1.0, 1.0).all()

    # Figures from that plot data.
    from hyperlab.plotting import hypernet as plotting

    monkeypatch.chdir(tmp_path)
    written = plotting.render(config.FiguresParams(dpi=40))
    assert {p.name for p in written} == {
        "hypernet_surfaces_global.png",
        "hypernet_surfaces_local.png",
        "hypernet_response.png",
        "hypernet_local_tracking.png",
    }
    assert all((tmp_path / p).stat().st_size > 1000 for p in written)

    # Same params, same metrics; a run dropped from params leaves no plot data behind.
    small = {**TINY, "kinds": ["linear"], "variants": ["global"]}
    run_stage("hypernet", tmp_path, {"seed": 3, "hypernet": small})
    again = json.loads((tmp_path / "plots" / "hypernet" / "report.json").read_text())
    assert again["global_linear"] == metrics["global_linear"]
    assert "local_mlp" not in again
    left = sorted(
        p.relative_to(tmp_path / "plots" / "hypernet").as_posix()
        for p in (tmp_path / "plots" / "hypernet").rglob("*.csv")
    )
    assert left == ["curves/global_linear.csv", "paths/global_linear.csv", "phi_loss/global_linear.csv"]


def test_stage_rejects_bad_params_before_work(tmp_path):
    proc = run_stage("hypernet", tmp_path, {"hypernet": {**TINY, "sigma": 0}}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: params.yaml: hypernet.sigma: got 0; must be >= 0.0001"
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "plots").exists()
