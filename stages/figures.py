"""Stage ``figures@<family>``: draw one figure family from its plot data.

Usage: ``python stages/figures.py <family>`` (DVC's foreach passes each family;
no argument draws every family, for a quick look outside DVC). A family is a
module ``hyperlab.plotting.<family>`` with ``render(params) -> list[Path]``
writing under ``plots/figures/<family>/`` (nothing when its plot data is absent).
One cached stage per family, so a change of one experiment's plot data (e.g.
``-S order=4``) redraws only that family. Experiments never draw, so restyling
reruns only these stages.
"""

from __future__ import annotations

import importlib
import logging
import sys

from hyperlab import config
from hyperlab.cli import InputError, run_stage

log = logging.getLogger("hyperlab.stages.figures")
# Kept in step with dvc.yaml's figures foreach and hyperlab.plotting (tests/test_dvc_deps.py checks both).
FAMILIES = (
    "bilevel",
    "candidates",
    "data",
    "drmad",
    "hpo",
    "hpo_scale",
    "hpo_sweep",
    "hypernet",
    "l2l",
    "sampler_bench",
    "search",
)


def main() -> None:
    params = config.load_section("figures")
    families = sys.argv[1:] or list(FAMILIES)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise InputError(f"unknown figure family {unknown[0]!r}; families: {', '.join(FAMILIES)}")
    for family in families:
        module = importlib.import_module(f"hyperlab.plotting.{family}")
        written = module.render(params)
        log.info("%s: %d figure(s) %s", family, len(written), [str(p) for p in written])


if __name__ == "__main__":
    run_stage(main)
