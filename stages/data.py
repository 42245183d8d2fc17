"""Stage ``data``: MNIST digits -> ``data/mnist.npz`` (uint8 images, int64 labels, three splits).

The split summary (sizes, class balance, pixel means) goes to ``plots/data/report.json``:
nothing in it is a number experiments are compared by, so the stage has no metrics file.
"""

from __future__ import annotations

import logging

from hyperlab import config, data
from hyperlab.cli import run_stage
from hyperlab.io import write_npz
from hyperlab.report import write_outputs

log = logging.getLogger("hyperlab.stages.data")


def main() -> None:
    common = config.load_common()
    params = config.load_section("data")
    # data.idx_dir set when needed, split sizes within the source: checked by config (DataParams),
    # and for an idx_dir source, whose sizes are known only once read, by check_split_sizes
    result = data.run(params, common.seed, check_sizes=config.check_split_sizes)
    splits = result.products["splits"]
    write_npz("data/mnist.npz", **splits)
    write_outputs(result, "plots/data", metrics=None, own_folder=False)
    log.info("wrote data/mnist.npz: %s", {k: v.shape for k, v in splits.items()})


if __name__ == "__main__":
    run_stage(main)
