"""Learning to learn (Andrychowicz et al. 2016): loss / gradient norm / parameter norm per optimizer.

Reads ``plots/l2l/*.csv`` (stages ``l2l_train`` and ``l2l``) and writes

* ``l2l_base.png`` -- base setting, mean over runs with a 10-90 % band;
* ``l2l_generalization.png`` -- loss curves in every generalization setting;
* ``l2l_meta_training.png`` -- meta-loss and validation loss (+- standard error) per meta-seed during
  meta-training, beside the tuned baselines' validation loss: the step-100 loss against the
  meta-training budget.

``lstm`` is every meta-seed's runs pooled; ``lstm_s<m>`` (thin red lines) is meta-seed ``m`` alone.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hyperlab.io import save_figure

SOURCE = Path("plots/l2l")
OUT = Path("plots/figures/l2l")
STYLE = {
    "lstm": ("LSTM (learned)", "tab:red"),
    "adam": ("Adam", "tab:blue"),
    "sgd": ("SGD", "tab:gray"),
    "rmsprop": ("RMSprop", "tab:green"),
    "nag": ("NAG", "tab:purple"),
}
TITLES = {
    "base": "base: 784-20-10 sigmoid",
    "hidden40": "40 hidden units",
    "layers2": "2 hidden layers",
    "relu": "ReLU activation",
}


def _label(name: str, final: pd.DataFrame | None, setting: str) -> str:
    label = STYLE[name][0]
    if final is not None:
        row = final[(final.setting == setting) & (final.optimizer == name)]
        if len(row) and np.isfinite(row.lr.iloc[0]):
            label += f" (lr {row.lr.iloc[0]:g})"
    return label


def _seed_names(df: pd.DataFrame) -> list[str]:
    return sorted({n for n in df.optimizer.unique() if n.startswith("lstm_s")}, key=lambda n: int(n[6:]))


def _bands(ax, df: pd.DataFrame, field: str, final=None, setting="base", legend=False):
    seeds = _seed_names(df)
    for j, name in enumerate(seeds):
        d = df[df.optimizer == name].dropna(subset=[f"{field}_mean"])
        ax.plot(
            d.step,
            d[f"{field}_mean"],
            color=plt.get_cmap("Reds")(0.45 + 0.5 * j / max(len(seeds) - 1, 1)),
            lw=0.8,
            ls="--",
            label=f"LSTM meta-seed {name[6:]}" if legend else None,
        )
    for name in STYLE:
        d = df[df.optimizer == name].dropna(subset=[f"{field}_mean"])
        if d.empty:
            continue
        _, color = STYLE[name]
        label = _label(name, final, setting) + (" (all meta-seeds)" if name == "lstm" and seeds else "")
        ax.plot(
            d.step, d[f"{field}_mean"], color=color, lw=1.6 if name == "lstm" else 1.1, label=label if legend else None
        )
        ax.fill_between(d.step, d[f"{field}_lo"], d[f"{field}_hi"], color=color, alpha=0.15, lw=0)
    ax.set_xlabel("optimizee step")
    ax.grid(alpha=0.3)


def _base_figure(curves: pd.DataFrame, final: pd.DataFrame | None, n_steps: int | None):
    base = curves[curves.setting == "base"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, field, title in zip(
        axes,
        ("loss", "grad_norm", "param_norm"),
        ("loss (whole test split)", "global gradient norm (minibatch)", "global parameter norm"),
    ):
        _bands(ax, base, field, final, "base", legend=field == "loss")
        ax.set_title(title)
        if field != "param_norm":
            ax.set_yscale("log")
        if n_steps is not None and base.step.max() > n_steps:
            ax.axvline(n_steps, color="k", ls=":", lw=0.8)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Learning to learn on MNIST: mean and 10-90 % band over fresh inits "
        "(dotted: the 100-step horizon of meta-training)"
    )
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
    fig.suptitle(
        "Generalization of the LSTM optimizer (trained on the base net for 100 steps); baselines re-tuned per setting"
    )
    fig.tight_layout()
    return fig


def _meta_figure(steps: pd.DataFrame, val: pd.DataFrame, tuning: pd.DataFrame | None):
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    if "meta_seed" not in steps:
        steps, val = steps.assign(meta_seed=0), val.assign(meta_seed=0, val_se=np.nan)
    seeds = sorted(steps.meta_seed.unique())
    cmap = plt.get_cmap("Reds")
    colors = {m: cmap(0.45 + 0.5 * j / max(len(seeds) - 1, 1)) for j, m in enumerate(seeds)}
    # Unrolls late in a run start from a trained optimizee, so their loss is lower:
    # the mean over one optimizee run's unrolls makes the trend readable (no saw-tooth).
    n_pos = int(steps.unroll.max()) + 1 if "unroll" in steps else 1
    for m in seeds:
        d = steps[steps.meta_seed == m]
        run = (d.meta_step - 1) // n_pos
        per_run = d.groupby(run).agg(meta_step=("meta_step", "max"), meta_loss=("meta_loss", "mean"))
        a.plot(per_run.meta_step, per_run.meta_loss, color=colors[m], lw=1.2, marker=".", ms=3, label=f"meta-seed {m}")
        skipped = d[d.skipped == 1] if "skipped" in d else d.iloc[:0]
        if len(skipped):
            a.plot(skipped.meta_step, skipped.meta_loss, "x", color="k")
    a.set_xlabel("meta-step")
    a.set_title(f"meta-loss: mean over the {n_pos} unrolls of each optimizee run")
    a.set_yscale("log")
    a.legend(fontsize=7)
    for m in seeds:
        v = val[val.meta_seed == m]
        b.errorbar(
            v.meta_step,
            v.val_loss,
            yerr=v.val_se,
            fmt="o-",
            color=colors[m],
            ms=3,
            capsize=2,
            label=f"LSTM meta-seed {m}",
        )
        best = v.loc[v.val_loss.idxmin()]
        b.plot([best.meta_step], [best.val_loss], "*", color="k", ms=11)
    b.plot([], [], "*", color="k", ms=11, label="kept checkpoint")
    if tuning is not None:
        for name, ls in (("nag", "--"), ("adam", ":")):
            d = tuning[(tuning.setting == "base") & (tuning.optimizer == name)]
            if len(d) and np.isfinite(d.val_final_loss).any():
                b.axhline(
                    d.val_final_loss.min(),
                    color=STYLE[name][1],
                    ls=ls,
                    label=f"tuned {STYLE[name][0]} (lr {d.lr[d.val_final_loss.idxmin()]:g})",
                )
    b.set_yscale("log")
    b.set_xlabel("meta-step (meta-training budget)")
    b.set_title("validation: loss at the last optimizee step, mean +- s.e.")
    b.legend(fontsize=7)
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
        fig = _meta_figure(
            pd.read_csv(SOURCE / "meta_training.csv"), pd.read_csv(SOURCE / "meta_validation.csv"), tuning
        )
        save_figure(OUT / "l2l_meta_training.png", fig, dpi=params.dpi)
        plt.close(fig)
        written.append(OUT / "l2l_meta_training.png")
    return written
