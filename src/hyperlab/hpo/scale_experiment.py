"""The ``hpo_scale`` experiment: hypergradients against Bayesian optimization as the dimension grows.

``run(problem, params, arrays, seed, progress) -> Result``: for every hyperparameter family
(:mod:`.families`) and every method (:mod:`.methods`, shared with the ``hpo`` stage), ``params.seeds`` runs.
Each run goes on until two budgets are spent, and is read twice (:data:`VIEWS`):

* ``compute`` (the headline): ``params.compute_budget`` forward-step equivalents -- every
  forward step, reverse step and CG product the method ran, converted by the family's
  measured :class:`hyperlab.hpo.cost.Unit` (:func:`unit`), the same total for every method;
* ``steps``: ``params.step_budget`` forward steps, reverse passes free (the secondary view).

In each view the best h the run found within the budget is retrained and scored on
validation (the objective) and test (reported only). Methods that cannot run at a family's
dimension get a row saying why. :mod:`.scale_accuracy` measures each approximate
hypergradient against exact reverse mode; :mod:`.scale_verdict` names the crossover and a
verdict per family, in each view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax.numpy as jnp
import pandas as pd

from hyperlab import engine
from hyperlab.hpo import budget, cost, scale_accuracy, scale_verdict
from hyperlab.hpo import search_methods as search
from hyperlab.hpo.families import family_by_label
from hyperlab.hpo.methods import Pieces, Settings, label
from hyperlab.hpo.problem import initial_weights, make_data, network_sizes
from hyperlab.progress import silent
from hyperlab.report import Result

if TYPE_CHECKING:
    from hyperlab.config.sections.hpo import HpoParams, HpoScaleParams

#: the budgets every run is read under: the headline (equal compute), then the forward-step budget
VIEWS = ("compute", "steps")
#: the tables of each view: the headline's keep the plain names
TABLES = {"compute": ("runs.csv", "summary.csv"), "steps": ("runs_step_budget.csv", "summary_step_budget.csv")}
#: the columns a run has in each view (prefixed ``<view>.`` in a unit's row)
VIEW_COLUMNS = (
    "val_loss",
    "val_error",
    "test_loss",
    "test_error",
    "evaluations",
    "forward_steps",
    "reverse_steps",
    "cg_products",
    "compute",
    "wall_s",
)


def method_label(name: str, params: HpoScaleParams) -> str:
    """``kpiece`` -> ``kpiece<K>``, ``online`` -> ``online<n>``; the rest as they are."""
    return label(name, params.pieces, params.order)


def settings(params: HpoScaleParams) -> Settings:
    """The methods' settings from the ``hpo_scale`` section."""
    return Settings(
        params.outer_lr,
        params.online_every,
        params.cg_maxiter,
        params.n_startup_trials,
        embedding_dim=params.embedding_dim,
        cma_full_max_dim=params.cma_full_max_dim,
    )


def why_not(name: str, dim: int, params: HpoScaleParams) -> str | None:
    """Why ``name`` does not run at dimension ``dim`` (None: it runs)."""
    if name in search.OPTUNA and dim > params.optuna_max_dim:
        return (
            f"d = {dim} > optuna_max_dim = {params.optuna_max_dim}: an Optuna trial's bookkeeping grows as d^2 "
            "(the in-memory storage copies the trial's parameters for each one it sets)"
        )
    return None


class Runs:
    """The runs of the experiment as units (:mod:`hyperlab.engine`): one per family x method x seed that runs.

    A unit's row is a pure function of (family, method, seed, params, data): each run starts
    from its seed's weights and the method's seeded search, and the warm-up that compiles a
    method's jitted pieces (once per family and method in a process, untimed) computes with
    ``seed0``'s weights and keeps nothing but its time and the memory estimate. So a worker
    that runs any subset of the units, in any order, gives the rows the stage gives alone.
    """

    def __init__(
        self,
        problem: HpoParams,
        params: HpoScaleParams,
        arrays: dict,
        seed0: int,
        families: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
    ):
        self.problem, self.params, self.arrays, self.seed0 = problem, params, arrays, seed0
        self.families = tuple(
            params.families if families is None else families
        )  # family labels (:func:`family_by_label`)
        self.methods = tuple(params.methods if methods is None else methods)
        self.sizes = network_sizes(problem.hidden)
        self.data = make_data(arrays, problem.n_train)
        self.tree0, _ = initial_weights(self.sizes, seed0)
        self._pieces: dict[str, Pieces] = {}
        self._units: dict[str, cost.Unit] = {}
        self._warm: dict[tuple[str, str], tuple[float, int | None]] = {}

    def parts(self) -> dict:
        """What the rows depend on besides the code: the study's name is made of it (:func:`engine.study_name`)."""
        dump = {"problem": self.problem.model_dump(mode="json"), "params": self.params.model_dump(mode="json")}
        runs = {"families": self.families, "methods": self.methods}
        return {**dump, **runs, "seed": self.seed0, "arrays": self.arrays}

    def pieces(self, name: str) -> Pieces:
        """The family's jitted pieces, built once per process."""
        if name not in self._pieces:
            family = family_by_label(name, self.tree0, self.problem, self.params.knots)
            self._pieces[name] = Pieces(family, self.problem.T, settings(self.params))
        return self._pieces[name]

    def unit(self, name: str) -> cost.Unit:
        """The family's budget unit: the forward-step equivalents of a reverse step and of a CG product, from XLA's
        cost analysis of its single-step programs at h0 on the first seed's weights (:func:`cost.measure`)."""
        if name not in self._units:
            self._units[name] = self.pieces(name).unit(self.data, *initial_weights(self.sizes, self.seed0))
        return self._units[name]

    def keys(self) -> list[dict]:
        """Every run, family by family, method by method, seed by seed (the order of runs.csv)."""
        p = self.params
        return [
            {"family": f, "method": m, "seed": self.seed0 + s}
            for f in self.families
            for m in self.methods
            if why_not(m, self.pieces(f).family.dim, p) is None
            for s in range(p.seeds)
        ]

    def warm(self, family: str, name: str) -> tuple[float, int | None]:
        """Compile every jitted piece of the method (two untimed rounds); its seconds and memory estimate."""
        if (family, name) not in self._warm:
            pieces = self.pieces(family)
            label = method_label(name, self.params)
            tree, w0 = initial_weights(self.sizes, self.seed0)
            start = time.perf_counter()
            warm = pieces.rounds(label, self.seed0, self.data, tree, w0)
            next(warm), next(warm)
            warmup_s = time.perf_counter() - start
            self._warm[family, name] = warmup_s, pieces.memory(label, self.data, tree, w0)
        return self._warm[family, name]

    def limits(self) -> dict[str, dict]:
        """Each view's budget, as :meth:`budget.Trace.within` takes it."""
        return {"compute": {"compute": self.params.compute_budget}, "steps": {"steps": self.params.step_budget}}

    def __call__(self, key: dict) -> dict:
        """The row of one run (a unit): what it did within each view's budget, ``<view>.<column>``."""
        pieces, params, name, seed = self.pieces(key["family"]), self.params, key["method"], key["seed"]
        family, data = pieces.family, self.data
        warmup_s, memory = self.warm(key["family"], name)
        tree, w0 = initial_weights(self.sizes, seed)
        label = method_label(name, params)
        rounds = pieces.rounds(label, seed, data, tree, w0)
        trace = budget.run_budget(
            rounds, seconds=0.0, steps=params.step_budget, compute=params.compute_budget, unit=self.unit(key["family"])
        )
        row = {
            "family": family.name,
            "dim": family.dim,
            "method": label,
            "ran": True,
            "why_not": "",
            "seed": seed,
            "initial_val_loss": trace.value[0],
            "warmup_s": warmup_s,
            "memory_bytes": memory,
        }
        for view, limit in self.limits().items():
            last = trace.within(**limit)
            value, h = trace.best_within(**limit)
            scores = pieces.scores(data, tree, w0, jnp.asarray(h, jnp.float32))
            used = trace.used[last]
            columns = {
                "val_loss": value,
                **{k: float(v) for k, v in scores.items() if k != "val_loss"},
                "evaluations": last + 1,
                "forward_steps": used.forward,
                "reverse_steps": used.reverse,
                "cg_products": used.cg,
                "compute": trace.compute[last],
                "wall_s": trace.wall[last],
            }
            row.update({f"{view}.{k}": v for k, v in columns.items()})
        return row

    def rows(self, results: list[dict], view: str) -> list[dict]:
        """The view's runs.csv rows: the runs' rows (in :meth:`keys` order, the view's columns under their plain
        names) with a row per method that cannot run."""
        params, rows, it = self.params, [], iter(results)
        for f in self.families:
            family = self.pieces(f).family
            for name in self.methods:
                reason = why_not(name, family.dim, params)
                if reason is None:
                    rows += [_view_row(next(it), view) for _ in range(params.seeds)]
                else:
                    label = method_label(name, params)
                    rows.append({"family": f, "dim": family.dim, "method": label, "ran": False, "why_not": reason})
        return rows


def _view_row(row: dict, view: str) -> dict:
    """A unit's row with ``view``'s columns under their plain names (placed where the old runs.csv had them)."""
    common = {k: v for k, v in row.items() if "." not in k}
    own = {k: row[f"{view}.{k}"] for k in VIEW_COLUMNS}
    head = ("family", "dim", "method", "ran", "why_not", "seed")
    return {**{k: common[k] for k in head}, **own, **{k: v for k, v in common.items() if k not in head}}


def budget_units(units: Runs) -> dict:
    """Per family, the measured conversion of reverse steps and CG products into forward steps."""
    return {name: units.unit(name)._asdict() for name in units.families}


def judge(runs: pd.DataFrame) -> dict:
    """What one view's runs say: the summary, a verdict per family, the paired verdicts on three scales, and the
    crossover by the median rule (:mod:`.scale_verdict`)."""
    summary = scale_verdict.summarize(runs)
    verdicts = scale_verdict.verdicts(summary)
    return {
        "summary": summary,
        "crossover": scale_verdict.crossover_of(verdicts),
        "verdicts": verdicts,
        "paired": scale_verdict.paired(runs, verdicts),
    }


def work(problem: HpoParams, params: HpoScaleParams, arrays: dict, seed: int = 0) -> None:
    """A worker of the experiment's units (``python stages/hpo_scale.py --worker``, docs/distributed.md)."""
    runs = Runs(problem, params, arrays, seed)
    engine.work("hpo_scale", runs.parts(), runs.keys(), runs)


def run(
    problem: HpoParams,
    params: HpoScaleParams,
    arrays: dict,
    seed: int = 0,
    progress=silent,
    worker_argv: Sequence[str] = (),
) -> Result:
    """The whole experiment (module docstring); ``problem`` is the ``hpo`` section. Writes nothing.

    The runs are :class:`Runs` units: computed here, or by workers through :mod:`hyperlab.engine`
    (``worker_argv`` starts a local worker); the rows are the same either way.
    """
    units = Runs(problem, params, arrays, seed)
    results = engine.map_units("hpo_scale", units.parts(), units.keys(), units, worker_argv, progress)
    accuracy = [
        scale_accuracy.table(units.pieces(name), params, units.data, units.sizes, seed)
        for name in progress(params.families, desc="hpo_scale accuracy")
    ]
    acc = pd.concat(accuracy, ignore_index=True)
    tables, views = view_tables(units, results)
    report = {
        "params": params.model_dump(mode="json"),
        "problem": problem.model_dump(mode="json"),
        "n_test": int(len(units.data.y_test)),  # the test error's resolution (figures@hpo_scale)
        "seed": seed,
        "budget_unit": budget_units(units),  # forward-step equivalents of a reverse step and a CG product
        "headline_view": VIEWS[0],
        "views": views,
        "accuracy": acc.to_dict(orient="records"),
        "timing_dependent": ["wall_s", "warmup_s", "seconds_per_evaluation"],
    }
    return Result({**tables, "hypergrad_accuracy.csv": acc}, scale_verdict.headline(report), report)


def view_tables(units: Runs, results: list[dict]) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Each view's runs and summary tables (:data:`TABLES`) and its judgement (:func:`judge`, summary as records)."""
    tables, views = {}, {}
    for view in VIEWS:
        runs = pd.DataFrame(units.rows(results, view))
        judged = judge(runs)
        runs_name, summary_name = TABLES[view]
        tables.update({runs_name: runs, summary_name: judged["summary"]})
        views[view] = {**judged, "summary": judged["summary"].to_dict(orient="records")}
    return tables, views
