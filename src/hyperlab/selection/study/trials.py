"""Reading a search back: ``data/search/<strategy>.csv`` and ``data/latency.csv``, checked.

Each problem is one :class:`TrialsError` line naming the file and the stage
that rewrites it (the compare stage turns it into a one-line error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperlab.selection.table.table import Table
from hyperlab.selection.table.validate import read_csv_table


class TrialsError(ValueError):
    """A search CSV (``data/search/<strategy>.csv``) is missing, malformed or does not match the params."""


TRIAL_COLUMNS = (
    "strategy",
    "repeat",
    "trial",
    "state",
    "arch",
    "row_seed",
    "val_error",
    "latency_ms",
    "test_error",
    "cost",
    "train_seconds",
)
#: What a COMPLETE trial copied from the table row it drew: each must equal that row's value.
COPIED_COLUMNS = ("val_error", "test_error", "latency_ms", "train_seconds")
FINISHED_STATES = ("COMPLETE", "FAIL", "PRUNED")


def validate_trials(
    frame: pd.DataFrame, name: str, strategy: str, repeats: int, n_trials: int, table: Table, realizations: int = 1
) -> pd.DataFrame:
    """Check a search CSV against the params and the table; one :class:`TrialsError` line otherwise.

    Every realization ``0..realizations-1`` and repeat ``0..repeats-1`` must hold
    trials ``0..n_trials-1`` once each, every COMPLETE trial a network of the
    table with finite, in-range values (an ``inf`` would make a regret or
    hypervolume silently wrong), equal to the table row it drew
    (:func:`check_against_table`), of a seed of its realization. One realization
    is the whole table: a file without the ``realization`` column is that one.
    """
    columns = TRIAL_COLUMNS + (("realization",) if realizations > 1 else ())
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrialsError(f"{name}: lacks column(s) {missing}; rerun search@{strategy}")
    if "realization" not in frame.columns:
        frame = frame.assign(realization=0)
    for col in ("realization", "repeat", "trial", "row_seed"):
        if not pd.api.types.is_integer_dtype(frame[col]):
            raise TrialsError(f"{name}: column {col} must hold whole numbers on every row; rerun search@{strategy}")
    for col in ("val_error", "latency_ms", "test_error", "cost", "train_seconds"):
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            raise TrialsError(f"{name}: column {col} must hold numbers; rerun search@{strategy}")
    if (frame["strategy"] != strategy).any():
        other = frame.loc[frame["strategy"] != strategy, "strategy"].iloc[0]
        raise TrialsError(f"{name}: holds trials of strategy {other!r}, expected {strategy!r}")
    bad = ~frame["state"].isin(FINISHED_STATES)
    if bad.any():
        raise TrialsError(
            f"{name}: state {frame.loc[bad, 'state'].iloc[0]!r} is not one of {', '.join(FINISHED_STATES)}"
        )
    check_shape(frame, name, strategy, (realizations, repeats, n_trials))
    ok = frame["state"] == "COMPLETE"
    for col, low, high in (("val_error", 0, 1), ("test_error", 0, 1), ("latency_ms", 0, np.inf), ("cost", 0, np.inf)):
        v = frame[col].astype(float)
        bad = ok & ~(np.isfinite(v) & (v >= low) & (v <= high))
        if col == "latency_ms":
            bad |= ok & (v <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise TrialsError(
                f"{name}: row {i + 2}: a COMPLETE trial has {col} = {frame[col].iloc[i]!r}; "
                f"must be finite, {low}..{high}"
            )
    check_against_table(frame, name, strategy, table)
    check_realization_seeds(frame, name, strategy, table, realizations)
    return frame


def check_realization_seeds(frame: pd.DataFrame, name: str, strategy: str, table: Table, realizations: int) -> None:
    """Every COMPLETE trial of realization ``r`` drew one of that realization's seeds."""
    if realizations == 1:
        return
    seeds = {r: set(table.realization(r, realizations).seeds) for r in range(realizations)}
    ok = (frame["state"] == "COMPLETE").to_numpy()
    inside = np.array([s in seeds[r] for r, s in zip(frame["realization"].tolist(), frame["row_seed"].tolist())])
    bad = ok & ~inside
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        r = int(frame["realization"].iloc[i])
        raise TrialsError(
            f"{name}: row {i + 2}: realization {r} drew seed {frame['row_seed'].iloc[i]}; it observes seeds "
            f"{sorted(seeds[r])} only; rerun search@{strategy}"
        )


def check_shape(frame: pd.DataFrame, name: str, strategy: str, shape: tuple[int, int, int]) -> None:
    """Every (realization, repeat) of ``shape`` = (realizations, repeats, n_trials) holds every trial once."""
    realizations, repeats, n_trials = shape
    keys = ["realization", "repeat", "trial"]
    expected = pd.MultiIndex.from_product([range(realizations), range(repeats), range(n_trials)], names=keys)
    got = pd.MultiIndex.from_frame(frame[keys])
    if len(got) != len(expected) or got.has_duplicates or not got.sort_values().equals(expected):
        counts = frame.groupby(keys[:2])["trial"].nunique() if len(frame) else pd.Series(dtype=int)
        found = frame["realization"].nunique()
        where = f" in {found} realization(s)" if realizations > 1 else ""
        each = f" in each of {realizations} realizations (search.table_realizations)" if realizations > 1 else ""
        raise TrialsError(
            f"{name}: has {frame['repeat'].nunique()} repeats of {sorted(set(counts))} trials{where} "
            f"({len(frame)} rows), params ask {repeats} x {n_trials}{each}; rerun search@{strategy}"
        )


def check_against_table(frame: pd.DataFrame, name: str, strategy: str, table: Table) -> None:
    """Every COMPLETE trial names an ok row of ``table`` (network, seed) and holds that row's values.

    A search CSV edited by hand (one val_error set to 0) or written against
    another table would otherwise be scored as if it were a search.
    """
    ok = (frame["state"] == "COMPLETE").to_numpy()
    rows = table.rows[table.rows["status"] == "ok"].set_index(["arch", "seed"])
    keys = pd.MultiIndex.from_arrays([frame["arch"].astype(str), frame["row_seed"]])
    found = keys.isin(rows.index)
    bad = ok & ~found
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TrialsError(
            f"{name}: row {i + 2}: network {frame['arch'].iloc[i]} seed {frame['row_seed'].iloc[i]} "
            f"is not an ok row of {table.name}; a COMPLETE trial must draw one; rerun search@{strategy}"
        )
    drawn = rows.reindex(keys[ok])
    for col in COPIED_COLUMNS:
        got, want = frame[col].to_numpy(float)[ok], drawn[col].to_numpy(float)
        differs = ~np.isclose(got, want, rtol=1e-12, atol=0.0)
        if differs.any():
            i = int(np.flatnonzero(ok)[np.flatnonzero(differs)[0]])
            raise TrialsError(
                f"{name}: row {i + 2}: {col} = {float(frame[col].iloc[i])!r} but {table.name} has "
                f"{float(want[np.flatnonzero(differs)[0]])!r} for network {frame['arch'].iloc[i]} "
                f"seed {frame['row_seed'].iloc[i]}; a trial holds its table row's values; "
                f"rerun search@{strategy}"
            )


def load_latency(path, archs, rounds: int) -> dict[str, pd.Series]:
    """``data/latency.csv`` (arch, round, latency_ms) as ``{"round<k>": latency per arch}``; checked.

    It must hold rounds ``1..rounds`` (``search.latency_rounds``), each timing every network once.
    """
    frame = read_csv_table(
        path, TrialsError, "run `python stages/latency.py` first", "rerun the latency stage", dtype={"arch": str}
    )
    missing = [c for c in ("arch", "round", "latency_ms") if c not in frame.columns]
    if missing:
        raise TrialsError(f"{path}: lacks column(s) {missing}; rerun the latency stage")
    lat = pd.to_numeric(frame["latency_ms"], errors="coerce")
    if not (np.isfinite(lat) & (lat > 0)).all():
        raise TrialsError(f"{path}: every latency_ms must be a finite number > 0; rerun the latency stage")
    found = sorted(set(pd.to_numeric(frame["round"], errors="coerce").tolist()))
    if found != list(range(1, rounds + 1)):
        raise TrialsError(
            f"{path}: has rounds {found}; search.latency_rounds = {rounds} asks for rounds "
            f"1..{rounds}; rerun the latency stage"
        )
    out = {}
    for r, g in frame.assign(latency_ms=lat).groupby("round", sort=True):
        series = g.set_index("arch")["latency_ms"]
        if series.index.has_duplicates or not set(archs) <= set(series.index):
            raise TrialsError(
                f"{path}: round {r} does not time every network of the table once; rerun the latency stage"
            )
        out[f"round{r}"] = series
    return out


def load_trials(path, strategy: str, repeats: int, n_trials: int, table: Table, realizations: int = 1) -> pd.DataFrame:
    """``data/search/<strategy>.csv`` read and checked (:func:`validate_trials`)."""
    frame = read_csv_table(
        path,
        TrialsError,
        f"run `python stages/search.py {strategy}` first",
        f"rerun search@{strategy}",
        dtype={"arch": str, "strategy": str, "state": str},
    )
    return validate_trials(frame, str(path), strategy, repeats, n_trials, table, realizations)
