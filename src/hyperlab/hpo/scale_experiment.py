"""The ``hpo_scale`` experiment: hypergradients against Bayesian optimization as the dimension grows.

``run(problem, params, arrays, seed, progress) -> Result``: for every hyperparameter family
(:mod:`.families`) and every method (:mod:`.methods`, shared with the ``hpo`` stage), ``params.seeds`` runs of
``params.step_budget`` inner steps each; the best h a run found within the budget is
retrained and scored on validation (the objective) and test (reported only). Methods that
cannot run at a family's dimension get a row saying why. :mod:`.scale_accuracy` measures
each approximate hypergradient against exact reverse mode; :mod:`.scale_verdict` names the
crossover and a verdict per family.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax.numpy as jnp
import pandas as pd

from hyperlab import engine
from hyperlab.hpo import budget, cost, scale_accuracy, scale_verdict, search
from hyperlab.hpo.families import make_family
from hyperlab.hpo.methods import Pieces, Settings, label
from hyperlab.hpo.problem import initial_weights, inner, make_data
from hyperlab.progress import silent
from hyperlab.report import Result

if TYPE_CHECKING:
    from hyperlab.config.sections.hpo import HpoParams, HpoScaleParams


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

    def __init__(self, problem: HpoParams, params: HpoScaleParams, arrays: dict, seed0: int):
        self.problem, self.params, self.arrays, self.seed0 = problem, params, arrays, seed0
        self.sizes = (784, *problem.hidden, 10)
        self.data = make_data(arrays, problem.n_train)
        self.tree0, _ = initial_weights(self.sizes, seed0)
        self._pieces: dict[str, Pieces] = {}
        self._warm: dict[tuple[str, str], tuple[float, int | None]] = {}

    def parts(self) -> dict:
        """What the rows depend on besides the code: the study's name is made of it (:func:`engine.study_name`)."""
        dump = {"problem": self.problem.model_dump(mode="json"), "params": self.params.model_dump(mode="json")}
        return {**dump, "seed": self.seed0, "arrays": self.arrays}

    def pieces(self, name: str) -> Pieces:
        """The family's jitted pieces, built once per process."""
        if name not in self._pieces:
            family = make_family(name, self.tree0, self.problem, self.params.knots)
            self._pieces[name] = Pieces(family, self.problem.T, settings(self.params))
        return self._pieces[name]

    def keys(self) -> list[dict]:
        """Every run, family by family, method by method, seed by seed (the order of runs.csv)."""
        p = self.params
        return [
            {"family": f, "method": m, "seed": self.seed0 + s}
            for f in p.families
            for m in p.methods
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

    def __call__(self, key: dict) -> dict:
        """The row of one run (a unit)."""
        pieces, params, name, seed = self.pieces(key["family"]), self.params, key["method"], key["seed"]
        family, data = pieces.family, self.data
        warmup_s, memory = self.warm(key["family"], name)
        tree, w0 = initial_weights(self.sizes, seed)
        label = method_label(name, params)
        trace = budget.run_budget(pieces.rounds(label, seed, data, tree, w0), seconds=0.0, steps=params.step_budget)
        value, h = trace.best_within(steps=params.step_budget)
        within = [i for i in range(len(trace.steps)) if trace.steps[i] <= params.step_budget]
        scores = pieces.scores(data, tree, w0, jnp.asarray(h, jnp.float32))
        used = trace.used[within[-1]]
        return {
            "family": family.name,
            "dim": family.dim,
            "method": label,
            "ran": True,
            "why_not": "",
            "seed": seed,
            "val_loss": value,
            **{k: float(v) for k, v in scores.items() if k != "val_loss"},
            "initial_val_loss": trace.value[0],
            "evaluations": len(within),
            "forward_steps": used.forward,
            "reverse_steps": used.reverse,
            "cg_products": used.cg,
            "wall_s": trace.wall[within[-1]],
            "warmup_s": warmup_s,
            "memory_bytes": memory,
        }

    def rows(self, results: list[dict]) -> list[dict]:
        """runs.csv's rows: the runs' rows (in :meth:`keys` order) with a row per method that cannot run."""
        params, rows, it = self.params, [], iter(results)
        for f in params.families:
            family = self.pieces(f).family
            for name in params.methods:
                reason = why_not(name, family.dim, params)
                if reason is None:
                    rows += [next(it) for _ in range(params.seeds)]
                else:
                    label = method_label(name, params)
                    rows.append({"family": f, "dim": family.dim, "method": label, "ran": False, "why_not": reason})
        return rows


def budget_units(units: Runs) -> dict:
    """Per family, the measured conversion of reverse steps and CG products into forward steps
    (:func:`hyperlab.hpo.cost.measure` at h0 on the first seed's weights)."""
    out = {}
    for name in units.params.families:
        pieces = units.pieces(name)
        _, w0 = initial_weights(units.sizes, units.seed0)
        p = inner(pieces.family, units.data, units.tree0)
        unit = cost.measure(p.step, p.train_loss, w0, jnp.asarray(pieces.family.h0))
        out[name] = unit._asdict()
    return out


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
    rows = units.rows(results)
    accuracy = [
        scale_accuracy.table(units.pieces(name), params, units.data, units.sizes, seed)
        for name in progress(params.families, desc="hpo_scale accuracy")
    ]
    runs = pd.DataFrame(rows)
    summary = scale_verdict.summarize(runs)
    verdicts = scale_verdict.verdicts(summary)
    acc = pd.concat(accuracy, ignore_index=True)
    report = {
        "params": params.model_dump(mode="json"),
        "problem": problem.model_dump(mode="json"),
        "n_test": int(len(units.data.y_test)),  # the test error's resolution (figures@hpo_scale)
        "seed": seed,
        "budget_unit": budget_units(units),  # forward-step equivalents of a reverse step and a CG product
        "crossover": scale_verdict.crossover(summary),
        "verdicts": verdicts,
        "paired": scale_verdict.paired(runs, verdicts),
        "summary": summary.to_dict(orient="records"),
        "accuracy": acc.to_dict(orient="records"),
        "timing_dependent": ["wall_s", "warmup_s", "seconds_per_evaluation"],
    }
    return Result(
        {"runs.csv": runs, "summary.csv": summary, "hypergrad_accuracy.csv": acc},
        scale_verdict.headline(report),
        report,
    )
