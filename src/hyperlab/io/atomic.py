"""One file replaced atomically: a temporary file beside it, then ``os.replace`` onto it.

What every writer does outside a stage, and how a commit copies a staged file
onto another file system (:mod:`hyperlab.io.commit`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hyperlab.errors import OutputError


def one_line(err: BaseException) -> str:
    """The message of ``err`` (an ``OSError``'s ``strerror`` where it has one) on one line."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return " ".join(str(text).split())


@contextlib.contextmanager
def replace_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path``, moved onto it when the block ends without an exception.

    A failed write raises :class:`OutputError` naming ``path``; the temporary file never stays behind.
    """
    tmp: str | Path  # mkstemp's name, then the Path of it
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({one_line(err)})") from None
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file 0600; give the result the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({one_line(err)})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
