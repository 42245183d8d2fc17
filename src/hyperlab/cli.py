"""What every stage script shares: logging, progress bars, one-line errors.

The errors and the progress bar live in base modules (:mod:`hyperlab.errors`,
:mod:`hyperlab.progress`) that library code may import; they are re-exported
here for the stage scripts. No library module imports this one.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable

from hyperlab import compile_cache
from hyperlab.config import ConfigError, validate_all
from hyperlab.errors import InputError, OutputError
from hyperlab.io import stage_outputs
from hyperlab.progress import progress

__all__ = ["InputError", "OutputError", "progress", "setup_logging", "stage_name", "run_stage"]

log = logging.getLogger("hyperlab")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    # JAX logs its backend probing ("Unable to initialize backend 'tpu'") at INFO: noise here.
    logging.getLogger("jax").setLevel(logging.WARNING)


def stage_name(argv: list[str] | None = None) -> str:
    """``bilevel`` for ``stages/bilevel.py``, ``search@tpe`` for ``stages/search.py tpe`` (a folder name)."""
    argv = sys.argv if argv is None else argv
    name = Path(argv[0]).stem + (f"@{argv[1]}" if len(argv) > 1 else "")
    return re.sub(r"[^\w@.-]", "_", name)


def run_stage(main: Callable[[], None], name: str | None = None) -> None:
    """Run a stage's ``main``; a params, input or output problem exits 2 with one line on stderr.

    The whole ``params.yaml`` is validated first, whichever stage this is.
    ``main`` runs inside :func:`hyperlab.io.stage_outputs`: everything it
    writes is committed together when it returns, and nothing when it fails.
    """
    setup_logging()
    compile_cache.enable()
    try:
        validate_all()
        with stage_outputs(name or stage_name()):
            main()
    except (ConfigError, InputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
