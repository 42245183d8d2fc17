"""What every stage script shares: logging, progress bars, one-line errors."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from tqdm.auto import tqdm

from hyperlab.config import ConfigError, validate_all
from hyperlab.io import OutputError, stage_outputs

T = TypeVar("T")
log = logging.getLogger("hyperlab")


class InputError(ValueError):
    """Bad input other than params (a file that is missing, corrupt or of the wrong shape)."""


def progress(iterable: Iterable[T] | None = None, **kwargs) -> Iterable[T]:
    """A tqdm bar on stderr, silent when stderr is not a terminal (CI, dvc logs)."""
    kwargs.setdefault("disable", not sys.stderr.isatty())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


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
    try:
        validate_all()
        with stage_outputs(name or stage_name()):
            main()
    except (ConfigError, InputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
