"""Learning to learn (Andrychowicz et al. 2016): loss / gradient norm / parameter norm per optimizer.

Reads ``plots/l2l/*.csv`` (stages ``l2l_train`` and ``l2l``) and writes

* ``l2l_base.png`` -- base setting, mean over runs with a 10-90 % band;
* ``l2l_generalization.png`` -- loss curves in every generalization setting;
* ``l2l_meta_training.png`` -- meta-loss and validation loss during meta-training.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hyperlab.io import save_figure  # noqa: E402

SOURCE = Path("plots/l2l")
OUT = Path("plots/figures/l2l")
STYLE = {"lstm": ("LSTM (learned)", "tab:red"), "adam": ("Adam", "tab:blue"), "sgd": ("SGD", "tab:gray"),
         "rmsprop": ("RMSprop", "tab:green"), "nag": ("NAG", "tab:purple")}
TITLES = {"base": "base: 784-20-10 sigmoid", "hidden40": "40 hidden units", "layers2": "2 hidden layers",
          "relu": "ReLU activation"}


def _label(name: str, final: pd.DataFrame | None, setting: str) -> str:
    label = STYLE[name][0]
    if final is not None:
        row = final[(final.setting == setting) & (final.optimizer == name)]
        if len(row) and np.isfinite(row.lr.iloc[0]):
            label += f" (lr {row.lr.iloc[0]:g})"
    return label


def _bands(ax, df: pd.DataFrame, field: str, final=None, setting="base", legend=False):
    for name in STYLE:
        d = df[df.optimizer == name].dropna(subset=[f"{field}_mean"])
        if d.empty:
            continue
        _, color = STYLE[name]
        ax.plot(d.step, d[f"{field}_mean"], color=color, lw=1.6 if name == "lstm" else 1.1,
                label=_label(name, final, setting) if legend else None)
        ax.fill_between(d.step, d[f"{field}_lo"], d[f"{field}_hi"], color=color, alpha=0.15, lw=0)
    ax.set_xlabel("optimizee step")
    ax.grid(alpha=0.3)


def _base_figure(curves: pd.DataFrame, final: pd.DataFrame | None, n_steps: int | None):
    base = curves[curves.setting == "base"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, field, title in zip(axes, ("loss", "grad_norm", "param_norm"),
                                ("loss (whole test split)", "global gradient norm (minibatch)",
                                 "global parameter norm")):
        _bands(ax, base, field, final, "base", legend=field == "loss")
        ax.set_title(title)
        if field != "param_norm":
            ax.set_yscale("log")
        if n_steps is not None and base.step.max() > n_steps:
            ax.axvline(n_steps, color="k", ls=":", lw=0.8)
    axes[0].legend(fontsize=8)
    fig.suptitle("Learning to learn on MNIST: mean and 10-90 % band over fresh inits "
                 "(dotted: the 100-step horizon of meta-training)")
    fig.tight_layout()
    return fig


def _generalization_figure(curves: pd.DataFrame, final: pd.DataFrame | None):
    settings = list(dict.fromkeys(curves.setting))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.6 * len(settings), 4), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        _bands(ax, curves[curves.setting == setting], "loss", final, setting, legend=True)
        ax.set_yscale("log")
        ax.set_title(TITLES.get(setting, setting) + (f", {curves[curves.setting == setting].step.max()} steps"))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("loss (whole test split)")
    fig.suptitle("Generalization of the LSTM optimizer (trained on the base net for 100 steps); "
                 "baselines re-tuned per setting")
    fig.tight_layout()
    return fig


def _meta_figure(steps: pd.DataFrame, val: pd.DataFrame, tuning: pd.DataFrame | None):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    # Unrolls late in a run start from a trained optimizee, so their loss is
    # lower: one line per position makes the trend readable (no saw-tooth).
    positions = sorted(steps.unroll.unique()) if "unroll" in steps else [None]
    cmap = plt.get_cmap("Reds")
    for j, pos in enumerate(positions):
        d = steps if pos is None else steps[steps.unroll == pos]
        label = "meta-loss" if pos is None else f"unroll {pos + 1} of {len(positions)}"
        color = cmap(0.4 + 0.6 * j / max(len(positions) - 1, 1))
        a.plot(d.meta_step, d.meta_loss, color=color, lw=1.2, marker=".", ms=3, label=label)
    skipped = steps[steps.skipped == 1] if "skipped" in steps else steps.iloc[:0]
    if len(skipped):
        a.plot(skipped.meta_step, skipped.meta_loss, "x", color="k", label="skipped (non-finite)")
    a.set_xlabel("meta-step")
    a.set_title("meta-loss: mean optimizee loss over one unroll")
    a.set_yscale("log")
    a.legend(fontsize=7)
    b.plot(val.meta_step, val.val_loss, "o-", color="tab:red", ms=3, label="LSTM")
    best = val.loc[val.val_loss.idxmin()]
    b.plot([best.meta_step], [best.val_loss], "*", color="k", ms=12, label=f"kept (meta-step {best.meta_step:g})")
    if tuning is not None:
        adam = tuning[(tuning.setting == "base") & (tuning.optimizer == "adam")]
        if len(adam):
            b.axhline(adam.val_final_loss.min(), color="tab:blue", ls="--",
                      label=f"tuned Adam (lr {adam.lr[adam.val_final_loss.idxmin()]:g})")
    b.set_yscale("log")
    b.set_xlabel("meta-step")
    b.set_title("validation: loss at the last optimizee step")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def render(params) -> list[Path]:
    written = []
    final = pd.read_csv(SOURCE / "final.csv") if (SOURCE / "final.csv").is_file() else None
    tuning = pd.read_csv(SOURCE / "lr_tuning.csv") if (SOURCE / "lr_tuning.csv").is_file() else None
    if (SOURCE / "curves.csv").is_file():
        curves = pd.read_csv(SOURCE / "curves.csv")
        n_steps = None
        if final is not None:
            n_steps = int(final[final.setting == "base"].step.iloc[0])
        fig = _base_figure(curves, final, n_steps)
        save_figure(OUT / "l2l_base.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "l2l_base.png")
        fig = _generalization_figure(curves, final)
        save_figure(OUT / "l2l_generalization.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "l2l_generalization.png")
    if (SOURCE / "meta_training.csv").is_file() and (SOURCE / "meta_validation.csv").is_file():
        fig = _meta_figure(pd.read_csv(SOURCE / "meta_training.csv"), pd.read_csv(SOURCE / "meta_validation.csv"),
                           tuning)
        save_figure(OUT / "l2l_meta_training.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "l2l_meta_training.png")
    return written
