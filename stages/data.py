"""Stage ``data``: MNIST digits -> ``data/mnist.npz`` (uint8 images, int64 labels, three splits).

The split summary (sizes, class balance, pixel means) goes to ``plots/data/report.json``:
nothing in it is a number experiments are compared by, so the stage has no metrics file.
"""

from __future__ import annotations

import logging

import numpy as np

from hyperlab import config, data
from hyperlab.cli import run_stage
from hyperlab.io import write_json, write_npz

log = logging.getLogger("hyperlab.stages.data")


def main() -> None:
    common = config.load_common()
    params = config.load_section("data")
    # data.idx_dir set when needed, split sizes within the source: checked by config (DataParams)

    if params.source == "bundled":
        pools = data.load_bundled()
    elif params.source == "idx_dir":
        pools = data.load_idx_dir(params.idx_dir)
    else:
        pools = data.load_full(params.mirrors, params.cache_dir, params.timeout_s)

    splits = data.make_splits(pools, params.n_train, params.n_val, params.n_test, common.seed)
    write_npz("data/mnist.npz", **splits)
    metrics = {"source": params.source}
    for split in ("train", "val", "test"):
        counts = np.bincount(splits[f"y_{split}"], minlength=10)
        metrics[split] = {"n": int(counts.sum()), "min_per_class": int(counts.min()),
                          "max_per_class": int(counts.max()),
                          "pixel_mean": round(float(splits[f"x_{split}"].mean()) / 255.0, 6)}
    write_json("plots/data/report.json", metrics)
    log.info("wrote data/mnist.npz: %s", {k: v.shape for k, v in splits.items()})


if __name__ == "__main__":
    run_stage(main)
