"""Data overview: a grid of sample digits per class from the training split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from hyperlab.io import save_figure

if TYPE_CHECKING:  # annotations only: figures never import config at run time
    from hyperlab.config import FiguresParams

SOURCE = Path("data/mnist.npz")
OUT = Path("plots/figures/data/data_digits.png")


def digits_grid(images: np.ndarray, labels: np.ndarray, per_class: int):
    """Figure with one row per class 0..9 and ``per_class`` digits in each row."""
    fig, axes = plt.subplots(10, per_class, figsize=(per_class * 0.8, 10 * 0.8), squeeze=False)
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)[:per_class]
        for j in range(per_class):
            ax = axes[digit, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow(images[idx[j]], cmap="gray_r", vmin=0, vmax=255)
        axes[digit, 0].set_title(str(digit), loc="left", fontsize=8, pad=1)
    fig.suptitle("MNIST training split: sample digits per class")
    return fig


def render(params: FiguresParams) -> list[Path]:
    if not SOURCE.is_file():
        return []
    with np.load(SOURCE) as npz:
        fig = digits_grid(npz["x_train"], npz["y_train"], params.digits_per_class)
    save_figure(OUT, fig, dpi=params.dpi)
    plt.close(fig)
    return [OUT]
