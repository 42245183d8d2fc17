"""Progress bars: one tqdm wrapper for the stages, and a silent default for library code.

Every long-running library function takes a ``progress`` argument with the
calling convention of ``tqdm``: ``progress(iterable, desc=...)`` wraps an
iterable, ``progress(total=n, desc=...)`` returns a bar with ``update(k)``
and ``close()``. Library defaults are :func:`silent`; stage scripts pass
:func:`progress`, which draws only when stderr is a terminal (not in CI or
``dvc repro`` logs).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """The ``progress`` argument of library functions (:func:`progress` or :func:`silent`)."""

    def __call__(self, iterable: Iterable[T] | None = None, **kwargs): ...


def progress(iterable: Iterable[T] | None = None, **kwargs):
    """A tqdm bar on stderr, silent when stderr is not a terminal (CI, dvc logs)."""
    from tqdm.auto import tqdm  # here, not above: library modules import this one for `silent` alone

    kwargs.setdefault("disable", not sys.stderr.isatty())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


class _NoBar:
    """What :func:`silent` returns for ``total=``: a bar whose updates go nowhere."""

    def update(self, n: float = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        pass


def silent(iterable: Iterable[T] | None = None, **kwargs):
    """No progress: ``iterable`` unchanged, or (without one) a bar that draws nothing."""
    return _NoBar() if iterable is None else iterable
