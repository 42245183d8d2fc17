"""The tabular benchmark: an Optuna objective that looks networks up in the candidate table.

As in NAS-Bench-101/201 and HPOBench, every network of the space was trained
beforehand (several seeds each) by the ``candidates`` stage; a search then
costs nothing but a table lookup, so each strategy can be run many times and
its regret measured against the table's known optimum (REFERENCES.md §1).

Encoding (fixed length, so that no relative sampler falls back to independent
random sampling on conditional parameters): ``n_layers`` in ``min..max`` and
``log2_units_l{i}`` for every ``i < L``; widths beyond ``n_layers`` are
ignored by the objective. When the widths are not consecutive powers of two the
width parameters are categorical ``units_l{i}`` instead.

Trials count networks, not encodings: many encodings name one network (a
one-layer network has 36 of them here). :func:`canonical_params` maps any
encoding to the network's *canonical* one (every inactive width at the
smallest value, as if the missing layer were the narrowest), and
:func:`network_params` lists one canonical encoding per network. The GP
samplers take ``canonicalize=canonical_params`` and search the canonical points
only (so each GP dimension stays a real width, and an inactive one is a
constant), the random-over-networks sampler draws among the networks; both
then never repeat a network while an unevaluated one remains.

A lookup draws one of the stored seeds of the network (the draw depends only
on the run's seed, the repeat and the trial number, so it is the same whatever
the sampler, worker or resume), so the observed error carries the real
seed-to-seed noise. Failed rows make failed trials.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence

import numpy as np
import pandas as pd

from hyperlab.selection.names import COST_COLUMNS

REQUIRED = ("arch", "n_layers", "seed", "n_params", "flops", "train_error", "val_error", "test_error",
            "train_seconds", "latency_ms", "status")


class TableError(ValueError):
    """The candidate table is missing, malformed or empty."""


class NetworkFailed(Exception):
    """The drawn row of the table is a failed training run: the trial fails."""


_WIDTH = re.compile(r"^width_(\d+)$")
INT_COLUMNS = ("n_layers", "seed", "n_params", "flops")
#: Columns that must be finite on every ok row: the errors in [0, 1], the timings > 0.
ERROR_COLUMNS = ("train_error", "val_error", "test_error")
TIME_COLUMNS = ("train_seconds", "latency_ms")


def width_columns(frame: pd.DataFrame) -> list[str]:
    cols = [c for c in frame.columns if _WIDTH.match(str(c))]
    return sorted(cols, key=lambda c: int(c.split("_")[1]))


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
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise TableError(f"{name}: lacks column(s) {missing}; needs {list(REQUIRED)} and width_1..width_L")
    wcols = width_columns(frame)
    if not wcols:
        raise TableError(f"{name}: has no width_1..width_L columns")
    if wcols != [f"width_{i + 1}" for i in range(len(wcols))]:
        raise TableError(f"{name}: width columns {wcols} are not width_1..width_{len(wcols)}")
    if frame.empty:
        raise TableError(f"{name}: has no rows")
    out = frame.copy()
    for col in (*INT_COLUMNS, *wcols, *ERROR_COLUMNS, *TIME_COLUMNS):
        if not pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            bad = pd.to_numeric(out[col], errors="coerce").isna() & out[col].notna()
            where = _first(bad, out, col) if bad.any() else "a value"
            raise TableError(f"{name}: column {col} must hold numbers; {where} is not one")
    for col in (*INT_COLUMNS, *wcols):
        if not pd.api.types.is_integer_dtype(out[col]):
            raise TableError(f"{name}: column {col} must hold whole numbers on every row "
                             f"(dtype {out[col].dtype})")
        if (out[col] < 0).any():
            raise TableError(f"{name}: column {col} must be >= 0; {_first(out[col] < 0, out, col)}")
    if out["arch"].isna().any():
        raise TableError(f"{name}: column arch is empty on {_first(out['arch'].isna(), out, 'arch')}")
    out["arch"] = out["arch"].astype(str)
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
    depth = out["n_layers"]
    bad = (depth < 1) | (depth > len(wcols))
    if bad.any():
        raise TableError(f"{name}: n_layers must be 1..{len(wcols)}, as there are width_1..width_{len(wcols)} "
                         f"columns (one dropped?); {_first(bad, out, 'n_layers')}")
    widths = out[wcols].to_numpy()
    used = np.arange(len(wcols))[None, :] < depth.to_numpy()[:, None]
    expected = ["-".join(str(w) for w in row[:n]) for row, n in zip(widths.tolist(), depth.tolist())]
    bad = pd.Series(((widths > 0) != used).any(axis=1) | (out["arch"].to_numpy() != np.array(expected)),
                    index=out.index)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(f"{name}: row {i + 2}: arch {out['arch'].iloc[i]!r} contradicts n_layers "
                         f"{int(depth.iloc[i])} and widths {widths[i].tolist()} (expected {expected[i]!r})")
    dup = out.duplicated(["arch", "seed"])
    if dup.any():
        raise TableError(f"{name}: (arch, seed) repeated: {_first(dup, out, 'arch')} seed "
                         f"{int(out['seed'][dup].iloc[0])}")
    for col in ("n_params", "flops"):
        if (out.groupby("arch")[col].nunique() > 1).any():
            arch = out.groupby("arch")[col].nunique().loc[lambda n: n > 1].index[0]
            raise TableError(f"{name}: network {arch} has different {col} on different rows")
    return out


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


def load_table(path) -> pd.DataFrame:
    """``data/candidates.csv`` read and checked (:func:`validate_table`); any problem is a :class:`TableError`."""
    frame = read_csv_table(path, TableError, "run the candidates stage first", "rerun the candidates stage",
                           dtype={"arch": str})
    return validate_table(frame, str(path))


@dataclasses.dataclass(frozen=True)
class Space:
    layers: tuple[int, ...]
    widths: tuple[int, ...]
    max_layers: int

    @property
    def log2(self) -> bool:
        """Widths are consecutive powers of two, so ``log2_units`` is an integer range."""
        logs = [math.log2(w) for w in self.widths]
        return all(v.is_integer() for v in logs) and np.array_equal(np.diff(logs), np.ones(len(logs) - 1))


def space_of(table: pd.DataFrame) -> Space:
    wcols = width_columns(table)
    widths = sorted({int(w) for c in wcols for w in table[c] if w > 0})
    return Space(tuple(sorted({int(n) for n in table["n_layers"]})), tuple(widths), len(wcols))


def suggest_arch(trial, space: Space) -> str:
    """Define the fixed-length encoding on ``trial``; return the network's ``arch`` name."""
    n_layers = trial.suggest_int("n_layers", min(space.layers), max(space.layers))
    widths = []
    for i in range(space.max_layers):
        if space.log2:
            lo, hi = int(math.log2(space.widths[0])), int(math.log2(space.widths[-1]))
            widths.append(2 ** trial.suggest_int(f"log2_units_l{i}", lo, hi))
        else:
            widths.append(int(trial.suggest_categorical(f"units_l{i}", list(space.widths))))
    return "-".join(str(w) for w in widths[:n_layers])


def _width_params(space: Space) -> list[tuple[str, object]]:
    """(name, canonical value) of every width parameter, in layer order."""
    if space.log2:
        return [(f"log2_units_l{i}", int(math.log2(space.widths[0]))) for i in range(space.max_layers)]
    return [(f"units_l{i}", int(space.widths[0])) for i in range(space.max_layers)]


def canonical_params(params: dict, space: Space) -> dict:
    """``params`` with every width beyond ``n_layers`` set to its canonical (smallest) value.

    Two encodings name the same network exactly when their canonical forms are
    equal. A dict without ``n_layers`` (or a width) is returned unchanged.
    """
    if "n_layers" not in params:
        return dict(params)
    out = dict(params)
    for i, (name, value) in enumerate(_width_params(space)):
        if i >= int(params["n_layers"]) and name in out:
            out[name] = value
    return out


def arch_of_params(params: dict, space: Space) -> str:
    """The ``arch`` name an encoding stands for."""
    n = int(params["n_layers"])
    widths = [2 ** int(params[name]) if space.log2 else int(params[name]) for name, _ in _width_params(space)[:n]]
    return "-".join(str(w) for w in widths)


def network_params(space: Space, archs: Sequence[str]) -> list[dict]:
    """The canonical encoding of each network in ``archs`` (names as in the table)."""
    out = []
    names = _width_params(space)
    for arch in archs:
        widths = [int(w) for w in str(arch).split("-")]
        params = {"n_layers": len(widths)}
        for i, (name, value) in enumerate(names):
            if i < len(widths):
                params[name] = int(math.log2(widths[i])) if space.log2 else widths[i]
            else:
                params[name] = value
        out.append(params)
    return out


def network_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per network: mean errors / latency / cost over its ok seeds (the 'true' values)."""
    ok = table[table["status"] == "ok"]
    agg = ok.groupby("arch").agg(n_layers=("n_layers", "first"), n_params=("n_params", "first"),
                                 flops=("flops", "first"), val_error=("val_error", "mean"),
                                 test_error=("test_error", "mean"), latency_ms=("latency_ms", "mean"),
                                 train_seconds=("train_seconds", "mean"), n_ok=("seed", "size"))
    return agg.sort_index()


def latency_budget(nets: pd.DataFrame, quantile: float) -> float:
    """The latency budget (ms): ``quantile`` of the networks' seed-mean latencies (0.5: the median network's)."""
    return float(np.quantile(nets["latency_ms"].to_numpy(float), quantile, method="lower"))


class TableObjective:
    """``objective(trial)`` over the table: val error (and latency for two objectives).

    Sets user attributes ``arch``, ``row_seed``, ``cost`` (column ``cost_column``
    of the drawn row), ``latency_ms`` and ``test_error``; a failed row raises
    :class:`NetworkFailed`, which the runner catches so the trial is FAIL.
    """

    def __init__(self, table: pd.DataFrame, cost: str = "latency", multi_objective: bool = False,
                 seed: int = 0, repeat: int = 0):
        if cost not in COST_COLUMNS:
            raise ValueError(f"cost must be one of {list(COST_COLUMNS)}, got {cost!r}")
        self.space = space_of(table)
        self.cost_column = COST_COLUMNS[cost]
        self.multi_objective = multi_objective
        self.seed, self.repeat = seed, repeat
        cols = ["seed", "status", "val_error", "test_error", "latency_ms", "train_seconds", self.cost_column]
        self._rows = {arch: g[list(dict.fromkeys(cols))].to_dict("records")
                      for arch, g in table.groupby("arch", sort=True)}

    def __call__(self, trial):
        arch = suggest_arch(trial, self.space)
        trial.set_user_attr("arch", arch)
        rows = self._rows.get(arch)
        if not rows:
            raise NetworkFailed(f"{arch} is not in the table")
        draw = np.random.default_rng([self.seed, self.repeat, trial.number]).integers(len(rows))
        row = rows[int(draw)]
        trial.set_user_attr("row_seed", int(row["seed"]))
        if row["status"] != "ok" or not np.isfinite(row["val_error"]):
            raise NetworkFailed(f"{arch} seed {row['seed']} failed")
        cost = float(row[self.cost_column])
        trial.set_user_attr("cost", cost)
        trial.set_user_attr("latency_ms", float(row["latency_ms"]))
        trial.set_user_attr("train_seconds", float(row["train_seconds"]))
        trial.set_user_attr("test_error", float(row["test_error"]))
        if self.multi_objective:
            return float(row["val_error"]), float(row["latency_ms"])
        return float(row["val_error"])


def synthetic_table(layers: Sequence[int] = (1, 2, 3), widths: Sequence[int] = (16, 32, 64, 128, 256, 512),
                    n_seeds: int = 2, seed: int = 0, fail_rate: float = 0.02) -> pd.DataFrame:
    """A table with the schema of ``data/candidates.csv`` and a plausible shape, for tests and benches.

    Error falls with capacity and rises with depth beyond two layers (a unique
    optimum), with seed noise; latency grows with FLOPs and depth, so error and
    latency conflict and the Pareto front has several points.
    """
    import itertools

    rng = np.random.default_rng(seed)
    L = max(layers)
    rows = []
    for n in layers:
        for arch in itertools.product(sorted(widths), repeat=n):
            sizes = (784, *arch, 10)
            n_params = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
            flops = sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:]))
            base = 0.04 + 0.6 / (1 + n_params / 6e3) + 0.012 * (n - 2) ** 2 + 0.02 * (min(arch) < 32)
            for s in range(n_seeds):
                failed = rng.random() < fail_rate
                val = base + 0.006 * rng.standard_normal()
                lat = (0.02 + 2.5e-7 * flops + 0.01 * n) * (1 + 0.05 * rng.standard_normal())
                rows.append({"arch": "-".join(map(str, arch)), "n_layers": n,
                             **{f"width_{i + 1}": (arch[i] if i < n else 0) for i in range(L)},
                             "seed": s, "n_params": n_params, "flops": flops,
                             "train_error": np.nan if failed else max(val - 0.03, 0.0),
                             "val_error": np.nan if failed else val,
                             "test_error": np.nan if failed else val + 0.004 * rng.standard_normal(),
                             "train_seconds": 0.5 + 2e-5 * n_params, "latency_ms": abs(lat),
                             "status": "failed" if failed else "ok"})
    return pd.DataFrame(rows)
