"""The bilevel, hypernetwork and learning-to-learn figures on small hand-built plot data.

What is checked is behaviour a reader relies on: the smoothed gradient norm is the stated moving
median, each figure has exactly one legend and it covers no panel, every method is drawn in its
style-module colour under its human name.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from hyperlab.plotting import style


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_moving_median_equals_a_hand_computed_one():
    from hyperlab.plotting.l2l import moving_median

    # Centred window of 3, cut at the ends: median(1, 10), median(1, 10, 2), median(10, 2, 8), ...
    np.testing.assert_allclose(moving_median([1, 10, 2, 8, 3], 3), [5.5, 2.0, 8.0, 3.0, 5.5])
    # Window 5 over 5 values: the middle one sees all of them; a spike never survives.
    out = moving_median([1.0, 1.0, 100.0, 1.0, 1.0], 5)
    assert out[2] == 1.0 and out.max() == 1.0
    assert np.array_equal(moving_median([4.0, 2.0], 1), [4.0, 2.0])  # window 1: unchanged


@pytest.mark.parametrize("window", [0, 2, -3])
def test_moving_median_refuses_a_window_that_has_no_centre(window):
    from hyperlab.plotting.l2l import moving_median

    with pytest.raises(ValueError, match="positive odd"):
        moving_median([1.0, 2.0, 3.0], window)


def _one_legend_off_the_data(fig) -> list[str]:
    """The texts of the figure's only legend, after checking it overlaps no drawn panel."""
    assert len(fig.legends) == 1, f"{len(fig.legends)} figure legends"
    assert all(ax.get_legend() is None for ax in fig.axes), "a panel has its own legend"
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        if ax.get_visible():
            assert not box.overlaps(ax.get_window_extent()), f"legend covers panel {ax.get_title()!r}"
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _l2l_curves(names, settings=("base", "relu"), n=30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for setting in settings:
        for k, name in enumerate(names):
            step = np.arange(n + 1)
            frame = pd.DataFrame({"setting": setting, "optimizer": name, "step": step})
            for field in ("loss", "grad_norm", "param_norm"):
                mean = np.exp(-(k + 1) * step / n) + rng.uniform(0, 0.5, n + 1)  # noisy: smoothing shows
                frame[f"{field}_mean"], frame[f"{field}_lo"], frame[f"{field}_hi"] = mean, 0.5 * mean, 2 * mean
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _l2l_final(names, settings=("base", "relu")) -> pd.DataFrame:
    rows = [
        {"setting": s, "optimizer": n, "step": 30, "lr": np.nan if n.startswith("lstm") else 0.1 * (i + 1)}
        for s in settings
        for i, n in enumerate(names)
    ]
    return pd.DataFrame(rows)


L2L_NAMES = ["sgd", "adam", "rmsprop", "nag", "lstm", "lstm_s0", "lstm_s1"]


def test_l2l_base_figure_draws_the_stated_moving_median_of_the_gradient_norm():
    from hyperlab.plotting import l2l

    curves = _l2l_curves(L2L_NAMES)
    fig = l2l._base_figure(curves, _l2l_final(L2L_NAMES), n_steps=None)
    grad_ax = fig.axes[1]
    assert f"moving median over {l2l.GRAD_WINDOW} steps" in grad_ax.get_ylabel()
    adam = curves[(curves.setting == "base") & (curves.optimizer == "adam")]
    line = next(ln for ln in grad_ax.get_lines() if ln.get_color() == style.style("adam").color)
    raw = adam["grad_norm_mean"].to_numpy()
    half = l2l.GRAD_WINDOW // 2
    by_hand = [np.median(raw[max(i - half, 0) : i + half + 1]) for i in range(len(raw))]
    np.testing.assert_allclose(line.get_ydata(), by_hand)
    assert not np.allclose(line.get_ydata(), raw)  # the noisy series really was smoothed
    # the loss is not smoothed: the loss panel draws the column as it is
    loss_line = next(ln for ln in fig.axes[0].get_lines() if ln.get_color() == style.style("adam").color)
    np.testing.assert_allclose(loss_line.get_ydata(), adam["loss_mean"])


def test_l2l_figures_have_one_shared_legend_with_human_names():
    from hyperlab.plotting import l2l

    curves, final = _l2l_curves(L2L_NAMES), _l2l_final(L2L_NAMES)
    base = _one_legend_off_the_data(l2l._base_figure(curves, final, n_steps=None))
    assert "Adam (lr 0.2)" in base and style.label("lstm_s1") in base
    general = _one_legend_off_the_data(l2l._generalization_figure(curves, final))
    # one entry per optimizer (not one per panel); the per-setting lr moves to each panel's title
    assert len(general) == len(set(general)) == len(L2L_NAMES)
    assert "Adam" in general
    meta = pd.DataFrame(
        [
            {"meta_seed": m, "meta_step": i, "unroll": (i - 1) % 2, "meta_loss": 1 / i + m, "skipped": 0}
            for m in (0, 1)
            for i in range(1, 9)
        ]
    )
    val = pd.DataFrame(
        [{"meta_seed": m, "meta_step": i, "val_loss": 1 / (i + 1), "val_se": 0.01} for m in (0, 1) for i in (0, 4, 8)]
    )
    texts = _one_legend_off_the_data(l2l._meta_figure(meta, val, None))
    assert style.label("lstm_s0") in texts and "kept checkpoint" in texts


def _bilevel_runs(orders=(0, 1, 2, 3)):
    step = np.arange(12)
    runs = {
        n: pd.DataFrame(
            {
                "step": step,
                "h": 0.9**step * (1 + 0.1 * n),
                "w": -(0.8**step),
                "L_val": 0.64**step,
                "hypergrad_norm": 0.0 if n == 0 else 0.5**step,
            }
        )
        for n in orders
    }
    exact = runs[1].assign(h=0.5**step)
    return runs, exact


@pytest.mark.parametrize("which", ["curves", "surfaces"])
def test_bilevel_figures_draw_each_order_in_its_style_under_one_legend(which):
    from hyperlab.plotting import bilevel

    runs, exact = _bilevel_runs()
    fig = getattr(bilevel, which)(runs, exact, 1)
    texts = _one_legend_off_the_data(fig)
    assert "order 1 (main)" in texts and style.label("order3") in texts and bilevel.EXACT_LABEL in texts
    colours = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
    assert colours[style.label("order2")] == style.style("order2").color
    assert colours[bilevel.EXACT_LABEL] == style.style("exact").color
    if which == "surfaces":
        assert [ax.get_zlabel() for ax in fig.axes[:2]] == ["L_train", "L_val"]


def _hypernet_runs():
    h = np.linspace(-2.0, 2.0, 21)
    step = np.arange(15)
    runs = {}
    for variant in ("global", "local"):
        for kind, gap in (("linear", 0.0), ("mlp", 0.1)):
            curve = pd.DataFrame(
                {"h": h, "w_phi": -h + gap * h**3, "w_star": -h, "sampled": (np.abs(h) <= 1).astype(int)}
            )
            path = pd.DataFrame({"step": step, "h_hat": 1.5 * 0.7**step, "w_phi_h_hat": -1.5 * 0.7**step})
            data = {"curve": curve, "path": path}
            if variant == "local":
                data["snapshots"] = pd.concat(
                    [
                        pd.DataFrame({"step": s, "h": h, "w_phi": -h * (s + 1) / 10, "h_hat": 1.0 / (s + 1)})
                        for s in (0, 3, 9)
                    ]
                )
            runs[variant, kind] = data
    return runs


@pytest.mark.parametrize("which", ["response", "tracking", "surfaces"])
def test_hypernet_figures_have_one_legend_and_the_kinds_in_their_styles(which):
    from hyperlab.plotting import hypernet

    runs = _hypernet_runs()
    fig = hypernet.surfaces("local", runs) if which == "surfaces" else getattr(hypernet, which)(runs)
    texts = _one_legend_off_the_data(fig)
    if which == "tracking":
        assert "w_phi(h) at outer step 9" in texts and len(texts) == len(set(texts))
        return
    assert any(style.label("mlp") in t for t in texts) and any(style.label("linear") in t for t in texts)
    drawn = {ln.get_color() for ax in fig.axes for ln in ax.get_lines()}
    assert {style.style("linear").color, style.style("mlp").color} <= drawn
    assert style.style("linear").color != style.style("mlp").color
