"""Stage ``figures``: draw every figure whose plot data exists.

Each module of :mod:`hyperlab.plotting` with a ``render(params) -> list[Path]``
function is one figure family; it returns the PNGs it wrote (none when its
plot data is absent). Experiments never draw, so restyling reruns only this.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

import hyperlab.plotting
from hyperlab import config
from hyperlab.cli import run_stage

log = logging.getLogger("hyperlab.stages.figures")


def main() -> None:
    params = config.load_section("figures")
    for info in sorted(pkgutil.iter_modules(hyperlab.plotting.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"hyperlab.plotting.{info.name}")
        render = getattr(module, "render", None)
        if render is None:
            continue
        written = render(params)
        log.info("%s: %d figure(s) %s", info.name, len(written), [str(p) for p in written])


if __name__ == "__main__":
    run_stage(main)
