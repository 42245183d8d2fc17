"""The stage run in progress: :func:`stage_outputs` opens it, :func:`atomic_path` routes every write into it."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

from hyperlab.errors import OutputError
from hyperlab.io.atomic import one_line, replace_atomically
from hyperlab.io.commit import StageOutputs
from hyperlab.io.lock import stage_lock
from hyperlab.io.recovery import recover_locked

_ACTIVE: contextvars.ContextVar[StageOutputs | None] = contextvars.ContextVar("hyperlab_outputs", default=None)


def active_outputs() -> StageOutputs | None:
    """The outputs of the stage whose :func:`stage_outputs` block is open here; None outside a stage."""
    return _ACTIVE.get()


@contextlib.contextmanager
def stage_outputs(name: str, root: str | Path = ".") -> Iterator[StageOutputs]:
    """Every write of :mod:`hyperlab.io` inside the block is staged, and committed together at its end.

    An exception (or a kill) inside the block leaves every previous output as
    it was. The whole block holds the lock of stage ``name``
    (:func:`~hyperlab.io.lock.stage_lock`): while one run has it open, a second
    run of the same stage stops with one line naming the first one's pid
    (or waits, with ``HYPERLAB_STAGE_WAIT_S``). Under the lock, the leftovers
    of an earlier killed run are cleaned first (:func:`~hyperlab.io.recovery.recover`).
    """
    with stage_lock(name, root):
        recover_locked(name, root)
        with _staged(name, root) as outputs:
            yield outputs


@contextlib.contextmanager
def _staged(name: str, root: str | Path) -> Iterator[StageOutputs]:
    """The body of :func:`stage_outputs`, under its lock: stage every write, commit at the end."""
    outputs = StageOutputs(name, root)
    token: contextvars.Token[StageOutputs | None] | None = _ACTIVE.set(outputs)
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    else:
        assert token is not None  # set above; cleared only below
        _ACTIVE.reset(token)
        token = None
        outputs.commit()
    finally:
        if token is not None:
            _ACTIVE.reset(token)


@contextlib.contextmanager
def atomic_path(path: str | Path, staged: bool = True) -> Iterator[Path]:
    """Yield the path to write instead of ``path``.

    Inside :func:`stage_outputs` (and ``staged``), a file in the stage's staging
    folder, moved into place when the stage commits. Otherwise a temporary file
    beside ``path``, moved onto it when the block ends without an exception.
    A failed write raises :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    outputs = _ACTIVE.get() if staged else None
    if outputs is None:
        with replace_atomically(path) as tmp:
            yield tmp
        return
    try:
        yield outputs.reserve(path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({one_line(err)})") from None
