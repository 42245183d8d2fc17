"""The ``hpo_sweep`` experiment: where hypergradients overtake search with the kind of hyperparameter held fixed.

``hpo_scale``'s families change the *kind* of hyperparameter as d grows (one learning rate,
then a schedule, then per-unit L2, ...), so its crossover says "somewhere between two
kinds". Here d grows within one kind (:data:`hyperlab.hpo.families.SWEEP_KINDS`):

* ``lr_knots``: the per-layer learning-rate schedule in K knots (``knots<K>``, d = 2K + 2),
  with ``hpo_scale``'s ``knots`` (K = ``hpo_scale.knots``) and ``schedule`` (K = T);
* ``l2_groups``: the per-weight L2 tied in G contiguous blocks (``groups<G>``, d = G + 1),
  with ``hpo_scale``'s ``weight`` (G = every kernel weight).

The new members run exactly as ``hpo_scale``'s families do (:class:`.scale_experiment.Runs`:
same budgets, seeds, settings); the shared members' rows are ``hpo_scale``'s own, not run
twice. Each kind is then judged as ``hpo_scale`` judges its sequence (:func:`.scale_experiment.judge`):
per member a verdict and a paired verdict on three scales, and the crossover per scale, in both
budget views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from hyperlab import engine
from hyperlab.hpo.families import SWEEP_KINDS, n_kernel_weights
from hyperlab.hpo.methods import label
from hyperlab.hpo.problem import initial_weights, network_sizes
from hyperlab.hpo.scale_experiment import TABLES, VIEWS, Runs, judge
from hyperlab.progress import silent
from hyperlab.report import Result

if TYPE_CHECKING:
    from hyperlab.config.sections.hpo import HpoParams, HpoScaleParams, HpoSweepParams

#: ``hpo_scale``'s families that belong to a kind, and their size there (K or G) as a function of the problem
SHARED = {"lr_knots": ("knots", "schedule"), "l2_groups": ("weight",)}


def shared_size(family: str, problem: HpoParams, scale: HpoScaleParams, n_kernel_weights: int) -> int:
    """K or G of an ``hpo_scale`` family within its kind."""
    return {"knots": scale.knots, "schedule": problem.T, "weight": n_kernel_weights}[family]


def members(
    sweep: HpoSweepParams, problem: HpoParams, scale: HpoScaleParams, n_kernel_weights: int
) -> dict[str, list[tuple[str, int]]]:
    """Per kind, its members as (family label, size), by size: the sweep's new ones and the ``hpo_scale`` families of
    the kind (a new size equal to a shared family's is that family)."""
    sizes = {"lr_knots": sweep.lr_knots, "l2_groups": sweep.l2_groups}
    out = {}
    for kind, prefix in SWEEP_KINDS.items():
        shared = {shared_size(f, problem, scale, n_kernel_weights): f for f in SHARED[kind] if f in scale.families}
        new = {size: f"{prefix}{size}" for size in sizes[kind] if size not in shared}
        out[kind] = sorted(((name, size) for size, name in {**new, **shared}.items()), key=lambda m: m[1])
    return out


def new_families(kinds: dict[str, list[tuple[str, int]]]) -> list[str]:
    """The members that are not ``hpo_scale`` families: what this experiment runs."""
    shared = {f for fams in SHARED.values() for f in fams}
    return [name for ms in kinds.values() for name, _ in ms if name not in shared]


def _kind_runs(
    runs: pd.DataFrame, scale_runs: pd.DataFrame, kind_members: list[tuple[str, int]], methods: list[str]
) -> pd.DataFrame:
    """One kind's rows: its members' rows from this experiment's runs or ``hpo_scale``'s, the sweep's methods only."""
    size = dict(kind_members)
    both = pd.concat([runs, scale_runs[scale_runs["family"].isin(size)]], ignore_index=True)
    rows = both[both["family"].isin(size) & both["method"].isin(methods)].copy()
    rows.insert(1, "size", rows["family"].map(size))
    return rows.sort_values(["dim", "method", "seed"], kind="stable", ignore_index=True)


def _units(
    problem: HpoParams, scale: HpoScaleParams, sweep: HpoSweepParams, arrays: dict, seed: int
) -> tuple[dict[str, list[tuple[str, int]]], Runs]:
    """The kinds' members, and the runs of the new ones as units (:mod:`hyperlab.engine`)."""
    tree, _ = initial_weights(network_sizes(problem.hidden), seed)
    kinds = members(sweep, problem, scale, n_kernel_weights(tree))
    return kinds, Runs(problem, scale, arrays, seed, families=new_families(kinds), methods=sweep.methods)


def work(problem: HpoParams, scale: HpoScaleParams, sweep: HpoSweepParams, arrays: dict, seed: int = 0) -> None:
    """A worker of the experiment's units (``python stages/hpo_sweep.py --worker``, docs/distributed.md)."""
    _, units = _units(problem, scale, sweep, arrays, seed)
    engine.work("hpo_sweep", units.parts(), units.keys(), units)


def run(
    problem: HpoParams,
    scale: HpoScaleParams,
    sweep: HpoSweepParams,
    arrays: dict,
    scale_tables: dict[str, pd.DataFrame],
    seed: int = 0,
    progress=silent,
    worker_argv: Sequence[str] = (),
) -> Result:
    """The whole experiment (module docstring); ``scale_tables``: ``hpo_scale``'s runs tables by name
    (:data:`.scale_experiment.TABLES`). Writes nothing."""
    kinds, units = _units(problem, scale, sweep, arrays, seed)
    results = engine.map_units("hpo_sweep", units.parts(), units.keys(), units, worker_argv, progress)
    methods = [label(m, scale.pieces, scale.order) for m in sweep.methods]
    tables: dict[str, pd.DataFrame] = {}
    report_kinds: dict[str, dict] = {kind: {"members": [], "views": {}} for kind in kinds}
    for view in VIEWS:
        runs = pd.DataFrame(units.rows(results, view))
        runs_name, summary_name = TABLES[view]
        per_kind = []
        for kind, kind_members in kinds.items():
            rows = _kind_runs(runs, scale_tables[runs_name], kind_members, methods)
            rows.insert(0, "kind", kind)
            judged = judge(rows.drop(columns=["kind", "size"]))
            report_kinds[kind]["views"][view] = {k: v for k, v in judged.items() if k != "summary"}
            summary = judged["summary"]
            summary.insert(0, "kind", kind)
            summary.insert(2, "size", summary["family"].map(dict(kind_members)))
            per_kind.append((rows, summary))
        tables[runs_name] = pd.concat([r for r, _ in per_kind], ignore_index=True)
        tables[summary_name] = pd.concat([s for _, s in per_kind], ignore_index=True)
    for kind, kind_members in kinds.items():
        dims = tables[TABLES[VIEWS[0]][1]].query("kind == @kind").groupby("family")["dim"].first()
        report_kinds[kind]["members"] = [{"family": f, "size": s, "dim": int(dims[f])} for f, s in kind_members]
    report = {
        "params": sweep.model_dump(mode="json"),
        "scale_params": scale.model_dump(mode="json"),
        "seed": seed,
        "headline_view": VIEWS[0],
        "kinds": report_kinds,
        "timing_dependent": ["wall_s", "warmup_s", "seconds_per_evaluation"],
    }
    return Result(tables, headline(report), report)


def headline(report: dict) -> dict:
    """The numbers ``dvc exp show`` compares: per kind, the crossover dimension on test error by the paired rule in the
    headline view (None: no crossover)."""
    view = report["headline_view"]
    return {
        f"{kind}_crossover_dim_test_error": k["views"][view]["paired"]["crossover"]["test_error"]["dim"]
        for kind, k in report["kinds"].items()
    }
