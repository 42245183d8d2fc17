"""Atomic writes: every output appears whole or not at all.

Each writer writes to a temporary file in the destination folder and moves it
into place with ``os.replace`` (atomic on POSIX), so a killed stage never leaves
a half-written file that a later run could mistake for a result.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file 0600; give the result the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _to_builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.generic) or (hasattr(value, "shape") and getattr(value, "shape", None) == ()):
        return _to_builtin(np.asarray(value).item())
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return _to_builtin(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/inf; DVC's metrics parser rejects them
    return value


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` (numpy/JAX scalars and arrays allowed) as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_to_builtin(obj), indent=2, sort_keys=False) + "\n")


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_tables(folder: str | Path, tables: dict) -> None:
    """Write each DataFrame of ``tables`` (relative path -> frame) under ``folder``.

    ``folder`` is one stage's own plot-data folder: any other CSV in it is a
    leftover of a run with other params (an order, K or variant since dropped)
    and is deleted, so plots never mix runs.
    """
    folder = Path(folder)
    written = {folder / rel for rel in tables}
    for stale in (set(folder.rglob("*.csv")) - written) if folder.is_dir() else ():
        stale.unlink()
    for rel, frame in tables.items():
        write_csv(folder / rel, frame)


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays to a compressed ``.npz``.

    Its bytes depend only on the arrays (numpy stamps members with a fixed
    zip date; a test guards this), so rewriting the same data does not make
    DVC rerun the stages downstream.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_figure(path: str | Path, fig, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip("."), bbox_inches="tight")
