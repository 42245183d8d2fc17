"""One run of a stage at a time: an OS lock on the stage's staging folder, held from recovery to commit.

``dvc repro`` holds DVC's repository lock, but a stage script run by hand, in
two shells or by a worker does not. Without a lock of its own, a second run's
recovery (:func:`hyperlab.io.recovery.recover`) takes the first run's live
staging folder for the leftovers of a killed run and removes it, and the two
runs commit a mix of their outputs. So every run of stage ``<stage>`` holds
``fcntl.flock`` on ``.hyperlab-staging/<stage>.lock`` (beside its staging
folder, not in it: removing the folder must not remove the lock) from before
its recovery until its commit ends. The kernel releases the lock when the
process exits, however it dies, so a killed run never blocks the next one.
The file holds the holder's pid, for the one line a second run stops with;
by default it stops at once, and with ``HYPERLAB_STAGE_WAIT_S=<seconds>``
it waits that long for the running one to finish first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from hyperlab.errors import InputError, OutputError
from hyperlab.io.atomic import one_line
from hyperlab.io.manifest import STAGING

log = logging.getLogger(__name__)

#: Environment variable: seconds a stage run waits for a running one of the same stage (default 0: stop at once).
WAIT_ENV = "HYPERLAB_STAGE_WAIT_S"
POLL_S = 0.1  # how often a waiting run tries the lock again


def lock_path(name: str, root: str | Path = ".") -> Path:
    """The lock file of stage ``name``: ``.hyperlab-staging/<name>.lock`` under ``root``."""
    return Path(root) / STAGING / f"{name}.lock"


def wait_seconds(value: str | None = None) -> float:
    """How long to wait for a running run: ``value`` (default: the ``HYPERLAB_STAGE_WAIT_S`` variable), 0 if unset."""
    value = os.environ.get(WAIT_ENV, "") if value is None else value
    if not value.strip():
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # also refuses NaN
        raise InputError(f"{WAIT_ENV}: got {value!r}; must be a number of seconds >= 0 (inf waits for good)")
    return seconds


def holder(path: Path) -> int | None:
    """The pid written in lock file ``path``; None when it cannot be read (just created, not yet written)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _open_locked(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its lock, or None while another process holds it.

    A lock file is removed by its holder on release, so a descriptor locked
    only after that names a file no longer at ``path``: it is dropped, and
    the file at ``path`` tried afresh.
    """
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the staging folder was removed between the two calls
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _acquire(name: str, path: Path, wait_s: float) -> int:
    """Lock ``path`` (waiting up to ``wait_s`` seconds) and write our pid into it; the descriptor."""
    deadline = time.monotonic() + wait_s
    warned = False
    while (fd := _open_locked(path)) is None:
        if time.monotonic() >= deadline:
            pid = holder(path)
            running = f"pid {pid}" if pid is not None else "another process"
            raise OutputError(
                f"stage {name} is running already ({running}, lock {path}); let it finish, or set "
                f"{WAIT_ENV}=<seconds> to wait for it"
            )
        if not warned:
            log.info("%s: waiting for the running stage %s (pid %s) to finish", path, name, holder(path))
            warned = True
        time.sleep(POLL_S)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def stage_lock(name: str, root: str | Path = ".", wait_s: float | None = None) -> Iterator[Path]:
    """Hold the lock of stage ``name`` for the block; yields the lock file.

    ``wait_s``: seconds to wait for a run holding it (default: ``HYPERLAB_STAGE_WAIT_S``, else 0);
    past that, :class:`OutputError` names the holder's pid. The lock file is
    removed on release (the lock is still held then, so no one else is using
    it), and the staging folder with it once empty.
    """
    path = lock_path(name, root)
    try:
        fd = _acquire(name, path, wait_seconds() if wait_s is None else wait_s)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"{path}: cannot lock the stage's staging folder ({one_line(err)})") from None
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # releases the lock
        with contextlib.suppress(OSError):
            path.parent.rmdir()
