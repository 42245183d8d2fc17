"""The candidates, l2l and data figures draw from tiny plot data, and draw nothing without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperlab.config import FiguresParams

PARAMS = FiguresParams(dpi=40, digits_per_class=3)
PNG = b"\x89PNG\r\n\x1a\n"


def _written(paths, names):
    """The figures are the expected PNGs, each more than a blank canvas."""
    assert sorted(p.name for p in paths) == sorted(names)
    for p in paths:
        raw = p.read_bytes()
        assert raw.startswith(PNG) and len(raw) > 5000, (p, len(raw))


def _candidate_plot_data(folder):
    rng = np.random.default_rng(0)
    archs = ["16", "64", "16-16", "64-32", "32-32-32", "512-512-512"]
    n_layers = [a.count("-") + 1 for a in archs]
    flops = np.array([2.5e4, 1.0e5, 2.6e4, 1.1e5, 5.2e4, 1.3e6])
    nets = pd.DataFrame(
        {
            "arch": archs,
            "n_layers": n_layers,
            "n_params": (flops / 2).astype(int),
            "flops": flops,
            "latency_ms": 0.05 + flops / 1e6,
            "val_error": [0.2, 0.1, 0.22, 0.09, 0.15, 0.08],
            "val_error_std": rng.uniform(0, 0.01, 6),
            "test_error": [0.21, 0.11, 0.2, 0.1, 0.16, 0.09],
        }
    )
    nets["pareto"] = [True, True, False, True, False, True]
    folder.mkdir(parents=True)
    nets.to_csv(folder / "scatter.csv", index=False)
    nets[nets.pareto].sort_values("latency_ms")[["arch", "latency_ms", "val_error", "test_error"]].to_csv(
        folder / "pareto.csv", index=False
    )


@pytest.mark.slow
def test_candidates_figure_draws_from_plot_data_and_nothing_without(tmp_path, monkeypatch):
    from hyperlab.plotting import candidates

    monkeypatch.chdir(tmp_path)
    assert candidates.render(PARAMS) == []  # no plot data yet: nothing drawn
    _candidate_plot_data(tmp_path / "plots" / "candidates")
    _written(candidates.render(PARAMS), ["candidates_pareto.png"])


def test_candidates_figure_of_an_all_failed_table_is_skipped(tmp_path, monkeypatch):
    from hyperlab.plotting import candidates

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "plots" / "candidates"
    folder.mkdir(parents=True)
    (folder / "scatter.csv").write_text(
        "arch,n_layers,n_params,flops,latency_ms,val_error,val_error_std,test_error,pareto\n"
    )
    (folder / "pareto.csv").write_text("arch,latency_ms,val_error,test_error\n")
    assert candidates.render(PARAMS) == [] and not (tmp_path / "plots" / "figures").exists()


def _l2l_plot_data(folder, seeds=(0, 1), steps=10, every=2):
    names = ["sgd", "adam", "rmsprop", "nag", "lstm", *(f"lstm_s{m}" for m in seeds)]
    curves = []
    for setting, n in (("base", 2 * steps), ("relu", steps)):
        for k, name in enumerate(names):
            step = np.arange(n + 1)
            loss = 2.3 * np.exp(-(k + 1) * step / n)
            frame = pd.DataFrame({"setting": setting, "optimizer": name, "step": step})
            for field, values in (
                ("loss", np.where(step % every == 0, loss, np.nan)),
                ("grad_norm", np.where(step < n, 1 + loss, np.nan)),
                ("param_norm", 1 + step / n),
            ):
                frame[f"{field}_mean"], frame[f"{field}_lo"], frame[f"{field}_hi"] = values, 0.9 * values, 1.1 * values
            curves.append(frame)
    final = pd.DataFrame(
        [
            {
                "setting": s,
                "optimizer": name,
                "step": steps,
                "lr": np.nan if name.startswith("lstm") else 0.1,
                "final_mean": 0.5,
                "final_std": 0.1,
                "final_lo": 0.4,
                "final_hi": 0.6,
            }
            for s in ("base", "relu")
            for name in names
        ]
    )
    grid = [0.01, 0.1, 1.0]
    tuning = pd.DataFrame(
        [
            {"setting": s, "optimizer": b, "lr": lr, "val_final_loss": 1 + abs(np.log10(lr) + 1)}
            for s in ("base", "relu")
            for b in names[:4]
            for lr in grid
        ]
    )
    meta = pd.DataFrame(
        [
            {
                "meta_seed": m,
                "meta_step": i,
                "unroll": (i - 1) % 2,
                "meta_loss": 1 / i + m,
                "meta_grad_norm": 10.0,
                "skipped": int(i == 3),
            }
            for m in seeds
            for i in range(1, 9)
        ]
    )
    val = pd.DataFrame(
        [
            {"meta_seed": m, "meta_step": i, "val_loss": 1 / (i + 1) + m, "val_se": 0.01}
            for m in seeds
            for i in (0, 4, 8)
        ]
    )
    folder.mkdir(parents=True)
    for name, frame in (
        ("curves", pd.concat(curves)),
        ("final", final),
        ("lr_tuning", tuning),
        ("meta_training", meta),
        ("meta_validation", val),
    ):
        frame.to_csv(folder / f"{name}.csv", index=False)


@pytest.mark.slow
def test_l2l_figures_draw_from_plot_data_and_nothing_without(tmp_path, monkeypatch):
    from hyperlab.plotting import l2l

    monkeypatch.chdir(tmp_path)
    assert l2l.render(PARAMS) == []
    _l2l_plot_data(tmp_path / "plots" / "l2l")
    _written(l2l.render(PARAMS), ["l2l_base.png", "l2l_generalization.png", "l2l_meta_training.png"])


def test_l2l_meta_training_figure_alone(tmp_path, monkeypatch):
    """Before the evaluation stage ran: only the meta-training figure, without the tuned baselines."""
    from hyperlab.plotting import l2l

    monkeypatch.chdir(tmp_path)
    _l2l_plot_data(tmp_path / "plots" / "l2l")
    for name in ("curves", "final", "lr_tuning"):
        (tmp_path / "plots" / "l2l" / f"{name}.csv").unlink()
    _written(l2l.render(PARAMS), ["l2l_meta_training.png"])


@pytest.mark.parametrize("n_per_class", [1, 5])
def test_data_figure_draws_one_row_per_digit_and_nothing_without_data(tmp_path, monkeypatch, n_per_class):
    """One row per digit; a class with fewer digits than the grid leaves blank cells."""
    from hyperlab.plotting import data

    monkeypatch.chdir(tmp_path)
    assert data.render(PARAMS) == []
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(10), n_per_class)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "mnist.npz", x_train=rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8), y_train=y)
    _written(data.render(PARAMS), ["data_digits.png"])
