"""The schema contract of the candidate table: its columns and the values every row must hold.

``data/candidates.csv`` holds one row per (network, seed) of the trained space
(:mod:`hyperlab.selection.table.candidate_table` writes it); its columns are only ever
appended. :func:`validate_table` checks one frame on its own (every problem one
:class:`TableError` line); :class:`~hyperlab.selection.table.table.Table` adds the
checks against the params and the canonical row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperlab.selection.space.architectures import width_columns, width_columns_of
from hyperlab.training.network import arch_name

REQUIRED = (
    "arch",
    "n_layers",
    "seed",
    "n_params",
    "flops",
    "train_error",
    "val_error",
    "test_error",
    "train_seconds",
    "latency_ms",
    "status",
)


class TableError(ValueError):
    """The candidate table is missing, malformed or empty."""


INT_COLUMNS = ("n_layers", "seed", "n_params", "flops")
#: Columns that must be finite on every ok row: the errors in [0, 1], the timings > 0.
ERROR_COLUMNS = ("train_error", "val_error", "test_error")
TIME_COLUMNS = ("train_seconds", "latency_ms")


def _first(mask: pd.Series, frame: pd.DataFrame, column: str) -> str:
    """Where the first offending row is, for the one-line message (row numbers as in the file, header = 1)."""
    i = int(np.flatnonzero(mask.to_numpy())[0])
    value = frame[column].iloc[i]
    return f"row {i + 2} ({column} = {value.item() if isinstance(value, np.generic) else value!r})"


def validate_table(frame: pd.DataFrame, name: str = "candidate table") -> pd.DataFrame:
    """Check the schema contract of ``data/candidates.csv``; return a cleaned copy.

    Beyond the columns, the values are checked: a table that parses but is
    wrong would give a silently wrong search (an ``inf`` error makes a
    hypervolume ratio of 1, a dropped ``width_3`` column makes every 3-layer
    trial look up a 2-layer network, a duplicated row weights one seed twice).
    Every problem is one :class:`TableError` line naming ``name``.
    """
    wcols = _check_columns(frame, name)
    out = frame.copy()
    _check_numbers(out, wcols, name)
    if out["arch"].isna().any():
        raise TableError(f"{name}: column arch is empty on {_first(out['arch'].isna(), out, 'arch')}")
    out["arch"] = out["arch"].astype(str)
    _check_status_and_values(out, name)
    _check_architectures(out, wcols, name)
    dup = out.duplicated(["arch", "seed"])
    if dup.any():
        raise TableError(
            f"{name}: (arch, seed) repeated: {_first(dup, out, 'arch')} seed {int(out['seed'][dup].iloc[0])}"
        )
    for col in ("n_params", "flops"):
        if (out.groupby("arch")[col].nunique() > 1).any():
            arch = out.groupby("arch")[col].nunique().loc[lambda n: n > 1].index[0]
            raise TableError(f"{name}: network {arch} has different {col} on different rows")
    return out


def _check_columns(frame: pd.DataFrame, name: str) -> list[str]:
    """The required columns and width_1..width_L are there, and there are rows; returns the width columns."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise TableError(f"{name}: lacks column(s) {missing}; needs {list(REQUIRED)} and width_1..width_L")
    wcols = width_columns_of(frame)
    if not wcols:
        raise TableError(f"{name}: has no width_1..width_L columns")
    if wcols != width_columns(len(wcols)):
        raise TableError(f"{name}: width columns {wcols} are not width_1..width_{len(wcols)}")
    if frame.empty:
        raise TableError(f"{name}: has no rows")
    return wcols


def _check_numbers(out: pd.DataFrame, wcols: list[str], name: str) -> None:
    """Number columns hold numbers; count and width columns whole numbers >= 0."""
    for col in (*INT_COLUMNS, *wcols, *ERROR_COLUMNS, *TIME_COLUMNS):
        if not pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            bad = pd.to_numeric(out[col], errors="coerce").isna() & out[col].notna()
            where = _first(bad, out, col) if bad.any() else "a value"
            raise TableError(f"{name}: column {col} must hold numbers; {where} is not one")
    for col in (*INT_COLUMNS, *wcols):
        if not pd.api.types.is_integer_dtype(out[col]):
            raise TableError(f"{name}: column {col} must hold whole numbers on every row (dtype {out[col].dtype})")
        if (out[col] < 0).any():
            raise TableError(f"{name}: column {col} must be >= 0; {_first(out[col] < 0, out, col)}")


def _check_status_and_values(out: pd.DataFrame, name: str) -> None:
    """Status ok/failed, at least one ok row, and every ok row's errors in 0..1 and times > 0, finite."""
    bad = ~out["status"].isin(("ok", "failed"))
    if bad.any():
        raise TableError(f"{name}: status must be ok/failed; {_first(bad, out, 'status')}")
    ok = out["status"] == "ok"
    if not ok.any():
        raise TableError(f"{name}: every row failed")
    for col in (*ERROR_COLUMNS, *TIME_COLUMNS):
        values = out[col].astype(float)
        # errors are rates; a time of 0 would be a log(0) in the hypervolume's latency axis
        good = (values >= 0) & (values <= 1) if col in ERROR_COLUMNS else values > 0
        bad = ok & ~(np.isfinite(values) & good)
        if bad.any():
            allowed = "a finite number in 0..1" if col in ERROR_COLUMNS else "a finite number > 0"
            raise TableError(f"{name}: an ok row must have {col} {allowed}; {_first(bad, out, col)}")


def _check_architectures(out: pd.DataFrame, wcols: list[str], name: str) -> None:
    """Each row's depth fits the width columns, and its arch name is the one its depth and widths give."""
    depth = out["n_layers"]
    bad = (depth < 1) | (depth > len(wcols))
    if bad.any():
        raise TableError(
            f"{name}: n_layers must be 1..{len(wcols)}, as there are width_1..width_{len(wcols)} "
            f"columns (one dropped?); {_first(bad, out, 'n_layers')}"
        )
    widths = out[wcols].to_numpy()
    used = np.arange(len(wcols))[None, :] < depth.to_numpy()[:, None]
    expected = [arch_name(tuple(row[:n])) for row, n in zip(widths.tolist(), depth.tolist())]
    bad = pd.Series(
        ((widths > 0) != used).any(axis=1) | (out["arch"].to_numpy() != np.array(expected)), index=out.index
    )
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(
            f"{name}: row {i + 2}: arch {out['arch'].iloc[i]!r} contradicts n_layers "
            f"{int(depth.iloc[i])} and widths {widths[i].tolist()} (expected {expected[i]!r})"
        )


def read_csv_table(path, error: type[Exception], missing: str, rerun: str, dtype: dict | None = None) -> pd.DataFrame:
    """A pipeline CSV read whole; any reading problem is one ``error`` line naming ``path``.

    ``missing``: what to do when the file is absent; ``rerun``: the stage that rewrites it.
    """
    try:
        return pd.read_csv(path, dtype=dtype)
    except FileNotFoundError:
        raise error(f"{path}: not found; {missing}") from None
    except pd.errors.EmptyDataError:
        raise error(f"{path}: empty file; {rerun}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise error(f"{path}: not a readable CSV table ({' '.join(str(err).split())[:200]}); {rerun}") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror or err})") from None
