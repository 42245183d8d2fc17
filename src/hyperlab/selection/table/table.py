"""The candidate table as every search and analysis reads it: loaded, checked and summarized once.

A :class:`Table` owns the rows of ``data/candidates.csv`` in one canonical
order, the per-network truth every search is scored against
(:attr:`Table.nets`), and the encoding space the samplers search
(:attr:`Table.space`). Consumers take the ``Table`` and never rebuild these
views, so they cannot disagree.

Canonical order: networks as the space enumerates them (depth, then widths),
seeds ascending within a network. The lookups draw "the k-th seed row of a
network", so without one order a shuffled but equal file would give other
searches; with it, any row order of the file gives byte-identical results.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperlab.selection.space.architectures import enumerate_space, width_columns_of
from hyperlab.selection.space.encoding import Space, space_of
from hyperlab.selection.table.validate import TableError, read_csv_table, validate_table
from hyperlab.training.network import arch_name

if TYPE_CHECKING:  # annotations only: the section model, never imported at run time
    from hyperlab.config import CandidatesParams


@dataclasses.dataclass(frozen=True)
class ExpectedRows:
    """The rows the params ask for: every network of ``layers`` x ``widths`` under every seed of ``seeds``, once."""

    layers: tuple[int, ...]
    widths: tuple[int, ...]
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, candidates: CandidatesParams, seed: int) -> ExpectedRows:
        """From the ``candidates`` params section and the top-level ``seed`` (seeds ``seed, seed + 1, ..``)."""
        return cls(
            tuple(candidates.layers), tuple(candidates.widths), tuple(seed + k for k in range(candidates.n_seeds))
        )

    def allowed(self) -> str:
        """What a refusal line says is allowed."""
        seeds = ", ".join(str(s) for s in self.seeds)
        return (
            f"the {len(self.archs)} networks of candidates.layers {list(self.layers)} x candidates.widths "
            f"{list(self.widths)}, each under seeds {seeds} (seed, candidates.n_seeds) once"
        )

    @functools.cached_property
    def networks(self) -> tuple[str, ...]:
        """Every network's name, in the space's enumeration order."""
        return tuple(arch_name(a) for a in enumerate_space(self.layers, self.widths))

    @functools.cached_property
    def archs(self) -> frozenset[str]:
        return frozenset(self.networks)


def check_expected(frame: pd.DataFrame, expected: ExpectedRows, name: str) -> None:
    """One :class:`TableError` line unless ``frame`` (validated, file order) holds exactly ``expected``'s rows."""
    archs, seeds = expected.archs, set(expected.seeds)
    for i, (arch, seed) in enumerate(zip(frame["arch"], frame["seed"].tolist())):
        if arch not in archs:
            raise TableError(f"{name}: row {i + 2}: network {arch} is not in the space; allowed: {expected.allowed()}")
        if seed not in seeds:
            raise TableError(
                f"{name}: row {i + 2}: network {arch} has seed {seed}, not one the params ask for; "
                f"allowed: {expected.allowed()}"
            )
    present = set(zip(frame["arch"], frame["seed"].tolist()))
    for arch in expected.networks:
        for seed in expected.seeds:
            if (arch, seed) not in present:
                raise TableError(
                    f"{name}: no row for network {arch} seed {seed}; the params ask for "
                    f"{expected.allowed()}; rerun the candidates stage"
                )


def canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by network (depth, then widths: the space's enumeration order), then seed; index 0..n-1."""
    keys = ["n_layers", *width_columns_of(frame), "seed"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def network_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per network (index ``arch``, sorted) over its ok seeds: the 'true' values searches are scored on.

    Errors, latency and training time are *means* over the seeds (``val_error_std``:
    the seed-to-seed standard deviation, 0 for a single seed). The mean, not the
    median, for latency as for the errors: a trial observes one seed's row, so
    the seed mean is the expected value of what a search sees, and the regret,
    the latency budget and the true Pareto front are all read on it; a single
    slow timing is checked instead by the ``latency`` stage's independent
    re-timings, which ``compare`` re-reads every latency verdict with. (With
    two seeds per network, the table's default, the mean and median coincide.)
    """
    ok = rows[rows["status"] == "ok"]
    agg = ok.groupby("arch").agg(
        n_layers=("n_layers", "first"),
        n_params=("n_params", "first"),
        flops=("flops", "first"),
        val_error=("val_error", "mean"),
        val_error_std=("val_error", "std"),
        train_error=("train_error", "mean"),
        test_error=("test_error", "mean"),
        latency_ms=("latency_ms", "mean"),
        train_seconds=("train_seconds", "mean"),
        n_ok=("seed", "size"),
    )
    agg["val_error_std"] = agg["val_error_std"].fillna(0.0)
    return agg.sort_index()


def latency_budget(nets: pd.DataFrame, quantile: float) -> float:
    """The latency budget (ms): ``quantile`` of the networks' seed-mean latencies (0.5: the median network's)."""
    return float(np.quantile(nets["latency_ms"].to_numpy(float), quantile, method="lower"))


@dataclasses.dataclass(frozen=True, eq=False)
class Table:
    """The candidate table, checked, in canonical order, with the views every consumer reads.

    ``rows``: one row per (network, seed); ``nets``: :func:`network_summary`;
    ``space``: the encoding space of its networks; ``name``: what error lines call it.
    Build one with :meth:`of` (a frame) or :func:`load_table` (a file).
    """

    rows: pd.DataFrame
    nets: pd.DataFrame
    space: Space
    name: str = "candidate table"

    @classmethod
    def of(cls, frame: pd.DataFrame, name: str = "candidate table", expected: ExpectedRows | None = None) -> Table:
        """``frame`` checked (:func:`validate_table`, then against ``expected`` if given) and put in canonical order."""
        checked = validate_table(frame, name)
        if expected is not None:
            check_expected(checked, expected, name)
        rows = canonical_order(checked)
        return cls(rows, network_summary(rows), space_of(rows), name)

    @functools.cached_property
    def archs(self) -> tuple[str, ...]:
        """Every network's name, sorted (the networks with no ok row included)."""
        return tuple(sorted(set(self.rows["arch"])))

    @functools.cached_property
    def digest(self) -> str:
        """A fingerprint of the content (shared-storage study names carry it: changed tables never mix)."""
        return hashlib.sha256(self.rows.to_csv(index=False).encode()).hexdigest()[:12]

    @functools.cached_property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds of the rows, ascending."""
        return tuple(sorted(int(s) for s in set(self.rows["seed"])))

    def realization(self, r: int, realizations: int) -> Table:
        """Realization ``r`` of ``realizations``: the table a search observes and is scored on.

        One realization is the whole table. With ``R >= 2``, realization ``r``
        keeps the rows of the table's seeds ``2r`` and ``2r + 1`` only (in
        ascending order), so the realizations share no training run: its
        :attr:`nets` (the truth its regrets are read against) is the mean of
        those two seeds, an independent draw of the table's own training noise.
        """
        if realizations == 1:
            return self
        if not 0 <= r < realizations or len(self.seeds) < 2 * realizations:
            raise TableError(
                f"{self.name}: has seeds {list(self.seeds)}; {realizations} realizations of 2 seeds each need "
                f"candidates.n_seeds >= {2 * realizations}; allowed realization 0..{len(self.seeds) // 2 - 1}"
            )
        pair = self.seeds[2 * r : 2 * r + 2]
        rows = self.rows[self.rows["seed"].isin(pair)].reset_index(drop=True)
        return Table(
            rows, network_summary(rows), self.space, f"{self.name} (realization {r}: seeds {pair[0]}, {pair[1]})"
        )

    def latency_budget(self, quantile: float) -> float:
        """:func:`latency_budget` of this table's networks."""
        return latency_budget(self.nets, quantile)

    def check_trials(self, n_trials: int, key: str) -> None:
        """Refuse a study longer than the networks: the network-aware samplers never repeat one while another
        is unevaluated, and past the last there is nothing left to draw."""
        if n_trials > len(self.archs):
            raise TableError(
                f"{self.name}: has {len(self.archs)} networks; {key} = {n_trials} asks for more "
                f"trials than networks; allowed: 1..{len(self.archs)}"
            )


def load_table(path, expected: ExpectedRows | None = None) -> Table:
    """``data/candidates.csv`` read and checked into a :class:`Table`; any problem is one :class:`TableError` line."""
    frame = read_csv_table(
        path, TableError, "run the candidates stage first", "rerun the candidates stage", dtype={"arch": str}
    )
    return Table.of(frame, str(path), expected)
