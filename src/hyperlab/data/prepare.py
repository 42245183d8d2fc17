"""The ``data`` stage: the splits of the source ``params.source`` asks for, and their summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hyperlab.data.sources import load_source
from hyperlab.data.splits import SPLITS, make_splits
from hyperlab.report import Result

if TYPE_CHECKING:  # annotations only: the base layer never imports config at run time
    from hyperlab.config import DataParams


def split_summary(splits: dict[str, np.ndarray]) -> dict:
    """Per split: size, fewest and most digits of a class, mean pixel value in [0, 1]."""
    out = {}
    for split in SPLITS:
        counts = np.bincount(splits[f"y_{split}"], minlength=10)
        out[split] = {
            "n": int(counts.sum()),
            "min_per_class": int(counts.min()),
            "max_per_class": int(counts.max()),
            "pixel_mean": round(float(splits[f"x_{split}"].mean()) / 255.0, 6),
        }
    return out


def run(params: DataParams, seed: int, check_sizes: Callable[..., None] | None = None) -> Result:
    """The ``data`` stage: the splits (product ``splits``) and their summary (report; no headline metrics)."""
    splits = make_splits(load_source(params), params.n_train, params.n_val, params.n_test, seed, check_sizes)
    return Result(
        tables={}, metrics={}, report={"source": params.source, **split_summary(splits)}, products={"splits": splits}
    )
