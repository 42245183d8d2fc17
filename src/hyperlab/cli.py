"""What every stage script shares: logging, progress bars, one-line errors."""

from __future__ import annotations

import logging
import sys
from typing import Callable, Iterable, TypeVar

from tqdm.auto import tqdm

from hyperlab.config import ConfigError, validate_all

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


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a params or input problem exits 2 with one line on stderr.

    The whole ``params.yaml`` is validated first, whichever stage this is.
    """
    setup_logging()
    try:
        validate_all()
        main()
    except (ConfigError, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
