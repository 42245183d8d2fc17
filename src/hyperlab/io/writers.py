"""Writers of every kind of output: JSON, CSV, a folder of tables, ``.npz``, bytes, a figure.

Each writes through :func:`~hyperlab.io.staging.atomic_path`: staged inside a
stage, atomic on its own outside one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np

from hyperlab.io.staging import active_outputs, atomic_path, stage_outputs


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
    text = json.dumps(_to_builtin(obj), indent=2, sort_keys=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_tables(folder: str | Path, tables: dict) -> None:
    """Write each DataFrame of ``tables`` (relative path -> frame) under ``folder``, replacing it.

    ``folder`` is one stage's own plot-data folder: any other CSV in it is a
    leftover of a run with other params (an order, K or variant since dropped)
    and is removed when the outputs commit, so plots never mix runs. Outside a
    stage the folder is replaced as a unit of its own.
    """
    folder = Path(folder)
    outputs = active_outputs()
    if outputs is None:
        with stage_outputs(f"tables-{folder.name}", root=folder.parent):
            write_tables(folder, tables)
        return
    outputs.replace_folder(folder, "*.csv")
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
            # cast: numpy's stub types **kwds as allow_pickle's bool
            np.savez_compressed(fh, **cast(dict[str, Any], arrays))


def write_bytes(path: str | Path, data: bytes, staged: bool = True) -> None:
    """Write ``data``; ``staged=False`` writes at once even inside a stage (a download cache, not an output)."""
    with atomic_path(path, staged=staged) as tmp:
        tmp.write_bytes(data)


def save_figure(path: str | Path, fig, dpi: int) -> None:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip("."), bbox_inches="tight")
