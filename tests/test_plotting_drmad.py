"""The drmad figures draw from tiny plot data: titles state what the data show, one legend, distinct styles."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from hyperlab.config import FiguresParams
from hyperlab.plotting import drmad as fig
from hyperlab.plotting import style

PNG = b"\x89PNG\r\n\x1a\n"
T = 8
METHODS = ["exact", "K1", "K2", f"K{T}"]


def _outer(name: str, shift_h: float = 0.0, lr_end: float = 0.2) -> pd.DataFrame:
    step = np.arange(6)
    h = np.linspace(1.5, 0.0, 6) + shift_h * step / 5
    return pd.DataFrame(
        {
            "method": name,
            "step": step,
            "h": h,
            "w": -h + 0.01,
            "lr": np.geomspace(0.2, lr_end, 6),
            "L_val": 0.01 + (h - 0.01) ** 2,
        }
    )


def _runs(shift_h: float = 0.0) -> dict[str, pd.DataFrame]:
    runs = {n: _outer(n, lr_end=0.2 if n != "K1" else 0.04) for n in METHODS}
    runs["K2"] = _outer("K2", shift_h=shift_h)
    return runs


def _inner() -> pd.DataFrame:
    t = np.arange(T + 1)
    true = -1.5 + 2.5 * np.exp(-t / 3) * np.cos(t)
    rows = [pd.DataFrame({"path": "true", "K": T, "t": t, "h": 1.5, "w": true, "checkpoint": 1, "abs_err": 0.0})]
    for K in (1, 2):
        knots = np.rint(np.linspace(0, T, K + 1)).astype(int)
        line = np.interp(t, knots, true[knots])
        ckpt = np.isin(t, knots).astype(int)
        rows.append(
            pd.DataFrame(
                {
                    "path": f"K={K}",
                    "K": K,
                    "t": t,
                    "h": 1.5,
                    "w": line,
                    "checkpoint": ckpt,
                    "abs_err": np.abs(line - true),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _errors() -> pd.DataFrame:
    Ks = np.array([1, 2, T])
    cols = {f"rel_err_{k}": [0.5, 0.2, 1e-16] for k in ("h", "log_lr", "momentum")}
    return pd.DataFrame({"K": Ks, "memory_vectors": Ks + 1, **cols})


def _memory() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": METHODS,
            "K": [T, 1, 2, T],
            "formula_vectors": [T + 1, 2, 3, T + 1],
            "checkpoint_rows": [np.nan, 2, 3, T + 1],
            "measured_vectors": [3 * T + 5, 10.1, 11.1, T + 9.1],
        }
    )


def _val_surface() -> pd.DataFrame:
    H, A = np.meshgrid(np.linspace(-0.2, 1.7, 5), np.geomspace(0.03, 0.3, 4))
    return pd.DataFrame({"h": H.ravel(), "lr": A.ravel(), "L_val": H.ravel() ** 2 + 0.01})


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_coinciding_outer_paths_are_said_to_coincide_in_the_title():
    dh, _, same = fig.coincidence(_runs())
    assert same and dh == 0.0
    assert "coincide" in fig.outer_surface_title(_runs())
    shifted = _runs(shift_h=0.5)  # K2 ends 0.5 away in h: a third of the path's extent
    dh, _, same = fig.coincidence(shifted)
    assert not same and dh == pytest.approx(0.5)
    assert "differ" in fig.outer_surface_title(shifted) and "coincide" not in fig.outer_surface_title(shifted)


def _legend_entries(figure) -> tuple[list[str], list[tuple]]:
    assert len(figure.legends) == 1 and not any(ax.get_legend() for ax in figure.axes)  # one legend, off the data
    legend = figure.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    keys = [
        (h.get_color(), h.get_marker(), str(h.get_linestyle()))
        for h in legend.legend_handles
        if hasattr(h, "get_marker")
    ]
    return labels, keys


def test_outer_lr_figure_has_one_legend_with_a_distinct_style_per_method():
    figure = fig.outer_lr_figure(_runs(), _val_surface(), T)
    labels, keys = _legend_entries(figure)
    assert labels[: len(METHODS)] == [fig.method_styles(METHODS, T)[n].label for n in METHODS]
    assert style.label("K1") in labels and style.label("exact") in labels
    assert len(set(keys)) == len(keys) == len(METHODS)
    title = figure._suptitle.get_text()
    assert "0.04" in title and "0.2" in title  # the learning rates the runs end at, from the data


def test_outer_surfaces_name_every_method_once():
    labels, _ = _legend_entries(fig.outer_surfaces(_runs(), T))
    assert len(labels) == len(set(labels)) == len(METHODS) + 1  # plus the best-response line


def test_inner_figure_draws_one_panel_per_K_and_the_error_per_K():
    figure = fig.inner_figure(_inner())
    assert len(figure.axes) == 2 + 1  # K = 1, K = 2 and the error panel
    err_ax = figure.axes[0]
    assert err_ax.get_yscale() == "log"
    drawn = [line.get_ydata() for line in err_ax.get_lines()]
    assert len(drawn) == 2 and all(np.isnan(y).sum() >= 2 for y in drawn)  # zero at checkpoints: gaps
    _legend_entries(figure)


def test_error_figure_plots_the_measured_memory_not_the_formula():
    figure = fig.error_figure(_errors(), None, _memory())
    memory_ax = figure.axes[1]
    measured = [line for line in memory_ax.get_lines() if line.get_label() == "K pieces, measured"]
    assert len(measured) == 1
    np.testing.assert_allclose(measured[0].get_ydata(), [10.1, 11.1, T + 9.1])
    labels, _ = _legend_entries(figure)
    assert any(label.startswith("formula") for label in labels)  # the formula stays, as a labelled reference


def test_render_writes_every_figure_from_plot_data(tmp_path, monkeypatch):
    source = tmp_path / "plots/drmad"
    source.mkdir(parents=True)
    for name, frame in _runs().items():
        frame.to_csv(source / f"outer_{name}.csv", index=False)
    _inner().to_csv(source / "inner.csv", index=False)
    _errors().to_csv(source / "error_quadratic.csv", index=False)
    _memory().to_csv(source / "memory.csv", index=False)
    _val_surface().to_csv(source / "val_surface.csv", index=False)
    monkeypatch.chdir(tmp_path)
    written = fig.render(FiguresParams(dpi=30, digits_per_class=3))
    assert sorted(p.name for p in written) == sorted(
        ["drmad_outer.png", "drmad_outer_lr.png", "drmad_inner.png", "drmad_inner_time.png", "drmad_error.png"]
    )
    assert all((tmp_path / p).read_bytes().startswith(PNG) for p in written)
