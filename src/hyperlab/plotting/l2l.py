"""Learning to learn (Andrychowicz et al. 2016): loss / gradient norm / parameter norm per optimizer.

Reads ``plots/l2l/*.csv`` (stages ``l2l_train`` and ``l2l``) and writes

* ``l2l_base.png`` -- base setting, mean over runs with a 10-90 % band; the minibatch gradient
  norm is smoothed by a centred moving median (``GRAD_WINDOW`` steps), since a single minibatch's
  norm jumps by an order of magnitude from step to step;
* ``l2l_generalization.png`` -- loss curves in every generalization setting;
* ``l2l_meta_training.png`` -- per recipe (a row each), meta-loss and validation loss (+- standard
  error) per meta-seed during meta-training, beside the tuned baselines' validation loss;
* ``l2l_budget.png`` -- the budget curve: per recipe and meta-seed, the step-100 loss of the weights
  kept after N meta-updates on fresh val-split optimizees beside the tuned baselines' on the same
  runs, and its paired wins against tuned NAG and Adam with the bar.

``lstm`` is every meta-seed's runs pooled; ``lstm_s<m>`` (thin lines) is meta-seed ``m`` alone.
Every optimizer is drawn as ``hyperlab.plotting.style.style(name)``; each figure has one legend,
below its panels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.io import save_figure
from hyperlab.l2l.names import BAR_FRACTION
from hyperlab.plotting import style
from hyperlab.plotting.surfaces import shared_legend

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("plots/l2l")
OUT = Path("plots/figures/l2l")
#: The optimizers drawn with a band, in legend order: the learned one first, then the tuned baselines.
OPTIMIZERS = ("lstm", "sgd", "adam", "rmsprop", "nag")
TITLES = {
    "base": "base: 784-20-10 sigmoid",
    "hidden40": "40 hidden units",
    "layers2": "2 hidden layers",
    "relu": "ReLU activation",
}
#: Width (in optimizee steps) of the centred moving median drawn for the minibatch gradient norm.
GRAD_WINDOW = 9
FIELDS = {
    "loss": "test loss (whole test split)",
    "grad_norm": f"gradient norm (minibatch),\ncentred moving median over {GRAD_WINDOW} steps",
    "param_norm": "global parameter norm |θ|",
}
# Markers per curve: enough to name a method in greyscale without hiding the line.
MARKS = 10
#: Line dashes of meta-seeds 0, 1, .. in the budget figure (colour and marker name the recipe).
ORDINAL_SEED_DASHES = ("-", "--", "-.", ":")
GREY_TEXT = "#555555"


def moving_median(values, window: int) -> np.ndarray:
    """The centred moving median of ``values`` over ``window`` (odd) consecutive entries.

    Near the ends the window is cut to the entries that exist (so the series keeps its length);
    NaN entries are skipped. Why a median: one minibatch's gradient norm has heavy outliers,
    which a moving mean would smear over the whole window.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"moving-median window must be a positive odd number of steps, got {window}")
    series = pd.Series(np.asarray(values, dtype=float))
    return series.rolling(window, center=True, min_periods=1).median().to_numpy()


def _lr_text(final: pd.DataFrame | None, setting: str, name: str) -> str | None:
    """The tuned learning rate of baseline ``name`` in ``setting`` as ``lr 0.05``; None for the LSTM."""
    if final is None:
        return None
    row = final[(final.setting == setting) & (final.optimizer == name)]
    if len(row) and np.isfinite(row.lr.iloc[0]):
        return f"lr {row.lr.iloc[0]:g}"
    return None


def _seed_names(df: pd.DataFrame) -> list[str]:
    return sorted({n for n in df.optimizer.unique() if n.startswith("lstm_s")}, key=lambda n: int(n[6:]))


def _series(d: pd.DataFrame, field: str, window: int | None) -> tuple[np.ndarray, ...]:
    """(step, mean, lo, hi) of ``field``, each smoothed by ``moving_median`` when ``window`` is set."""
    cols = [d[f"{field}_{part}"].to_numpy() for part in ("mean", "lo", "hi")]
    if window:
        cols = [moving_median(c, window) for c in cols]
    return (d.step.to_numpy(), *cols)


def _bands(ax, df: pd.DataFrame, field: str, labels: dict[str, str], window: int | None = None) -> None:
    """Every optimizer's mean of ``field`` (band: 10-90 %), and each LSTM meta-seed's mean alone."""
    seeds = _seed_names(df)
    for name in seeds:
        d = df[df.optimizer == name].dropna(subset=[f"{field}_mean"])
        step, mean, _, _ = _series(d, field, window)
        ax.plot(step, mean, **style.style(name).plot_kwargs(lw=0.8, ms=3, markevery=max(len(d) // MARKS, 1)))
    for name in OPTIMIZERS:
        d = df[df.optimizer == name].dropna(subset=[f"{field}_mean"])
        if d.empty:
            continue
        look = style.style(name)
        step, mean, lo, hi = _series(d, field, window)
        kw = look.plot_kwargs(lw=1.8 if name == "lstm" else 1.2, ms=4, markevery=max(len(d) // MARKS, 1))
        ax.plot(step, mean, **{**kw, "label": labels.get(name, look.label)})
        ax.fill_between(step, lo, hi, color=look.color, alpha=0.12, lw=0)
    ax.set_xlabel("optimizee step")
    ax.grid(alpha=0.3)


def _labels(df: pd.DataFrame, final: pd.DataFrame | None, setting: str | None) -> dict[str, str]:
    """Legend labels: the human name, the tuned lr when ``setting`` is given, and the pooled LSTM marked."""
    out = {}
    for name in OPTIMIZERS:
        lr = _lr_text(final, setting, name) if setting else None
        out[name] = style.label(name) + (f" ({lr})" if lr else "")
    if _seed_names(df):
        out["lstm"] += ", all meta-seeds"
    return out


def _base_figure(curves: pd.DataFrame, final: pd.DataFrame | None, n_steps: int | None):
    base = curves[curves.setting == "base"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4))
    labels = _labels(base, final, "base")
    for ax, field in zip(axes, FIELDS):
        _bands(ax, base, field, labels, window=GRAD_WINDOW if field == "grad_norm" else None)
        ax.set_ylabel(FIELDS[field], fontsize=9)
        if field != "param_norm":
            ax.set_yscale("log")
        if n_steps is not None and base.step.max() > n_steps:
            ax.axvline(n_steps, color="k", ls=":", lw=0.8)
    axes[0].set_title("loss")
    axes[1].set_title("gradient norm (smoothed)")
    axes[2].set_title("parameter norm")
    fig.suptitle(
        "Learning to learn on MNIST: mean and 10-90 % band over fresh inits "
        "(dotted: the 100-step horizon of meta-training)"
    )
    shared_legend(fig, axes, ncol=4, top=0.95)
    return fig


def _generalization_figure(curves: pd.DataFrame, final: pd.DataFrame | None):
    settings = list(dict.fromkeys(curves.setting))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 5.0), squeeze=False)
    labels = _labels(curves, final, None)
    for ax, setting in zip(axes[0], settings):
        here = curves[curves.setting == setting]
        _bands(ax, here, "loss", labels)
        ax.set_yscale("log")
        lrs = [f"{style.label(n)} {lr[3:]}" for n in OPTIMIZERS if (lr := _lr_text(final, setting, n))]
        title = f"{TITLES.get(setting, setting)}, {here.step.max()} steps"
        ax.set_title(title + ("\ntuned lr: " + ", ".join(lrs) if lrs else ""), fontsize=9)
    axes[0][0].set_ylabel(FIELDS["loss"])
    fig.suptitle(
        "Generalization of the LSTM optimizer (trained on the base net for 100 steps); baselines re-tuned per setting"
    )
    shared_legend(fig, axes[0], ncol=4, top=0.94)
    return fig


def _meta_losses(a, steps: pd.DataFrame, seeds: list) -> int:
    """Left panel: each meta-seed's meta-loss, averaged over one optimizee run's unrolls; the unroll count."""
    # Unrolls late in a run start from a trained optimizee, so their loss is lower:
    # the mean over one optimizee run's unrolls makes the trend readable (no saw-tooth).
    n_pos = int(steps.unroll.max()) + 1 if "unroll" in steps else 1
    for m in seeds:
        d = steps[steps.meta_seed == m]
        run = (d.meta_step - 1) // n_pos
        per_run = d.groupby(run).agg(meta_step=("meta_step", "max"), meta_loss=("meta_loss", "mean"))
        a.plot(per_run.meta_step, per_run.meta_loss, **style.style(f"lstm_s{m}").plot_kwargs(lw=1.2, ms=3))
        skipped = d[d.skipped == 1] if "skipped" in d else d.iloc[:0]
        if len(skipped):
            a.plot(skipped.meta_step, skipped.meta_loss, "x", color="k", label="skipped meta-step (not finite)")
    return n_pos


def _meta_row(a, b, steps: pd.DataFrame, val: pd.DataFrame, tuning: pd.DataFrame | None, recipe: str) -> None:
    seeds = sorted(steps.meta_seed.unique())
    n_pos = _meta_losses(a, steps, seeds)
    a.set(xlabel="meta-step", ylabel="meta-loss (mean over a run's unrolls)", yscale="log")
    a.set_title(f"{recipe} recipe: meta-loss, mean over the {n_pos} unrolls of each optimizee run")
    for m in seeds:
        v = val[val.meta_seed == m]
        look = style.style(f"lstm_s{m}")
        b.errorbar(v.meta_step, v.val_loss, yerr=v.val_se, fmt=look.marker, ls=look.linestyle, color=look.color, ms=3)
        best = v.loc[v.val_loss.idxmin()]
        b.plot([best.meta_step], [best.val_loss], "*", color="k", ms=11)
    if tuning is not None:
        for name in ("nag", "adam"):
            d = tuning[(tuning.setting == "base") & (tuning.optimizer == name)]
            if len(d) and np.isfinite(d.val_final_loss).any():
                look = style.style(name)
                lr = d.lr[d.val_final_loss.idxmin()]
                b.axhline(d.val_final_loss.min(), color=look.color, ls=":", label=f"tuned {look.label} (lr {lr:g})")
    b.set(
        xlabel="meta-step (meta-training budget)",
        ylabel="validation loss at the last optimizee step",
        yscale="log",
        title=f"{recipe} recipe: validation checks, mean +- s.e.",
    )


def _meta_figure(steps: pd.DataFrame, val: pd.DataFrame, tuning: pd.DataFrame | None):
    if "meta_seed" not in steps:
        steps, val = steps.assign(meta_seed=0), val.assign(meta_seed=0, val_se=np.nan)
    if "recipe" not in steps:
        steps, val = steps.assign(recipe="appendix"), val.assign(recipe="appendix")
    recipes = list(dict.fromkeys(steps.recipe))
    fig, axes = plt.subplots(len(recipes), 2, figsize=(12, 4.6 * len(recipes)), squeeze=False)
    for (a, b), recipe in zip(axes, recipes):
        _meta_row(a, b, steps[steps.recipe == recipe], val[val.recipe == recipe], tuning, recipe)
    axes[0, 1].plot([], [], "*", color="k", ms=11, label="kept checkpoint")
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    shared_legend(fig, tuple(axes.ravel()), ncol=3)
    return fig


def _budget_figure(curve: pd.DataFrame):
    """Left: step-100 loss on the fresh val runs against meta-updates; right: paired wins against NAG and Adam."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5.0))
    runs = int(curve.runs.max())
    for recipe, d in curve.groupby("recipe", sort=False):
        look = style.style(f"lstm_{recipe}")
        for m, s in d.groupby("meta_seed"):
            s = s.sort_values("meta_updates")
            dash = ORDINAL_SEED_DASHES[int(m) % len(ORDINAL_SEED_DASHES)]
            kw = {"color": look.color, "marker": look.marker, "ls": dash, "ms": 5}
            a.errorbar(s.meta_updates, s.val_loss, yerr=s.val_se, label=f"{look.label}, meta-seed {m}", **kw)
            b.plot(s.meta_updates, s.wins_vs_nag, label=f"{look.label}, meta-seed {m}: wins vs NAG", **kw)
            b.plot(s.meta_updates, s.wins_vs_adam, **{**kw, "alpha": 0.45, "marker": "."})
    for name in ("nag", "adam"):
        look = style.style(name)
        a.axhline(curve[f"{name}_loss"].iloc[0], color=look.color, ls=":", label=f"tuned {look.label}, same runs")
    b.plot([], [], ".", color=GREY_TEXT, alpha=0.45, label="(faint) wins vs Adam")
    b.axhline(BAR_FRACTION * runs, color="k", ls="--", lw=0.8, label=f"bar: {BAR_FRACTION:.0%} of {runs} paired runs")
    a.set(xscale="log", yscale="log", xlabel="meta-updates", ylabel="loss at step 100 (fresh val-split optimizees)")
    a.set_title("kept LSTM after N meta-updates, mean +- s.e.")
    b.set(xscale="log", xlabel="meta-updates", ylabel=f"paired wins of {runs}", ylim=(-0.5, runs + 0.5))
    b.set_title("paired wins against the tuned baselines")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    shared_legend(fig, (a, b), ncol=3)
    return fig


def _save(fig, name: str, dpi: int) -> Path:
    save_figure(OUT / name, fig, dpi=dpi)
    plt.close(fig)
    return OUT / name


def render(params: FiguresParams) -> list[Path]:
    written = []
    final = pd.read_csv(SOURCE / "final.csv") if (SOURCE / "final.csv").is_file() else None
    tuning = pd.read_csv(SOURCE / "lr_tuning.csv") if (SOURCE / "lr_tuning.csv").is_file() else None
    if (SOURCE / "curves.csv").is_file():
        curves = pd.read_csv(SOURCE / "curves.csv")
        n_steps = None
        if final is not None:
            n_steps = int(final[final.setting == "base"].step.iloc[0])
        written.append(_save(_base_figure(curves, final, n_steps), "l2l_base.png", params.dpi))
        written.append(_save(_generalization_figure(curves, final), "l2l_generalization.png", params.dpi))
    if (SOURCE / "meta_training.csv").is_file() and (SOURCE / "meta_validation.csv").is_file():
        fig = _meta_figure(
            pd.read_csv(SOURCE / "meta_training.csv"), pd.read_csv(SOURCE / "meta_validation.csv"), tuning
        )
        written.append(_save(fig, "l2l_meta_training.png", params.dpi))
    if (SOURCE / "budget.csv").is_file():
        written.append(_save(_budget_figure(pd.read_csv(SOURCE / "budget.csv")), "l2l_budget.png", params.dpi))
    return written
