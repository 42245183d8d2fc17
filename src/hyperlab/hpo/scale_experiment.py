"""The ``hpo_scale`` experiment: hypergradients against Bayesian optimization as the dimension grows.

``run(problem, params, arrays, seed, progress) -> Result``: for every hyperparameter family
(:mod:`.families`) and every method (:mod:`.scale_methods`), ``params.seeds`` runs of
``params.step_budget`` inner steps each; the best h a run found within the budget is
retrained and scored on validation (the objective) and test (reported only). Methods that
cannot run at a family's dimension get a row saying why. :mod:`.scale_accuracy` measures
each approximate hypergradient against exact reverse mode; :mod:`.scale_verdict` names the
crossover and a verdict per family.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import pandas as pd

from hyperlab.bilevel import reverse
from hyperlab.hpo import budget, gradient, scale_accuracy, scale_verdict
from hyperlab.hpo import scale_methods as sm
from hyperlab.hpo.budget import memory_bytes
from hyperlab.hpo.families import Family, make_family
from hyperlab.hpo.problem import make_data
from hyperlab.progress import silent
from hyperlab.report import Result


def why_not(name: str, dim: int, params) -> str | None:
    """Why ``name`` does not run at dimension ``dim`` (None: it runs)."""
    if name in sm.OPTUNA and dim > params.optuna_max_dim:
        return (
            f"d = {dim} > optuna_max_dim = {params.optuna_max_dim}: an Optuna trial's bookkeeping grows as d^2 "
            "(the in-memory storage copies the trial's parameters for each one it sets)"
        )
    return None


class Pieces:
    """The jitted functions of one family, compiled once and shared by its methods and seeds."""

    def __init__(self, family: Family, problem, params):
        self.family, self.T, self.params = family, problem.T, params
        T = problem.T

        def scores(data, tree, w0, h):
            p = sm.inner(family, data, tree)
            return p.scores(reverse.train(p.step, w0, h, T))

        self.f, self.scores = jax.jit(sm.objective(family, T)), jax.jit(scores)
        self._steps: dict[str, Any] = {}
        self._grads: dict[str, Any] = {}

    def hypergradient(self, name: str):
        """The method's jitted hypergradient (``truncated``: the online methods' n-step one), compiled once."""
        if name not in self._grads:
            p = self.params
            self._grads[name] = jax.jit(
                sm.hypergradient(self.family, self.T, name, pieces=p.pieces, cg_maxiter=p.cg_maxiter, order=p.order)
            )
        return self._grads[name]

    def piece(self, name: str):
        """The method's jitted unit of work: a descent step, an online pass, or f for the searches."""
        if name not in self._steps:
            p, fam = self.params, self.family
            if name == "online":
                self._steps[name] = sm.online_pass(fam, self.T, p.order, p.online_every, p.outer_lr)
            elif name in sm.GRADIENT:
                self._steps[name] = sm.descent_step(fam, self.hypergradient(name), p.outer_lr)
            else:
                self._steps[name] = None
        return self._steps[name]

    def rounds(self, name: str, seed: int, data, tree, w0):
        fam, T, p, piece = self.family, self.T, self.params, self.piece(name)
        if name == "online":
            return gradient.online_rounds(T, piece, self.f, data, tree, w0, fam.h0)
        if name in sm.GRADIENT:
            return gradient.descent_rounds(T, piece, data, tree, w0, fam.h0)
        if name in sm.OPTUNA:
            return sm.optuna_rounds(fam, name, seed, p.n_startup_trials, T, self.f, data, tree, w0)
        if name == "random":
            return sm.random_rounds(fam, seed, T, self.f, data, tree, w0)
        return sm.cma_rounds(fam, seed, p.cma_full_max_dim, T, self.f, data, tree, w0)

    def memory(self, name: str, data, tree, w0) -> int | None:
        h0, piece = jnp.asarray(self.family.h0), self.piece(name)
        if name == "online":
            return memory_bytes(piece, data, tree, w0, h0)
        if name in sm.GRADIENT:
            return memory_bytes(self.hypergradient(name), data, tree, w0, h0)
        return memory_bytes(self.f, data, tree, w0, h0)


def run_family(pieces: Pieces, data, seed0: int, sizes) -> list[dict]:
    """Every method x seed on one family: one row per run (or one row per method that cannot run)."""
    family, params, rows = pieces.family, pieces.params, []
    base = {"family": family.name, "dim": family.dim}
    for name in params.methods:
        label = sm.method_label(name, params)
        reason = why_not(name, family.dim, params)
        if reason is not None:
            rows.append({**base, "method": label, "ran": False, "why_not": reason})
            continue
        tree, w0 = sm.initial_weights(sizes, seed0)
        start = time.perf_counter()
        warm = pieces.rounds(name, seed0, data, tree, w0)
        next(warm), next(warm)  # compiles every jitted piece of the method (untimed)
        warmup_s = time.perf_counter() - start
        memory = pieces.memory(name, data, tree, w0)
        for s in range(params.seeds):
            seed = seed0 + s
            tree, w0 = sm.initial_weights(sizes, seed)
            trace = budget.run_budget(pieces.rounds(name, seed, data, tree, w0), seconds=0.0, steps=params.step_budget)
            value, h = trace.best_within(steps=params.step_budget)
            within = [i for i in range(len(trace.steps)) if trace.steps[i] <= params.step_budget]
            scores = pieces.scores(data, tree, w0, jnp.asarray(h, jnp.float32))
            rows.append(
                {
                    **base,
                    "method": label,
                    "ran": True,
                    "why_not": "",
                    "seed": seed,
                    "val_loss": value,
                    **{k: float(v) for k, v in scores.items() if k != "val_loss"},
                    "initial_val_loss": trace.value[0],
                    "evaluations": len(within),
                    "wall_s": trace.wall[within[-1]],
                    "warmup_s": warmup_s,
                    "memory_bytes": memory,
                }
            )
    return rows


def run(problem, params, arrays: dict, seed: int = 0, progress=silent) -> Result:
    """The whole experiment (module docstring); ``problem`` is the ``hpo`` section. Writes nothing."""
    sizes = (784, *problem.hidden, 10)
    data = make_data(arrays, problem.n_train)
    tree0, _ = sm.initial_weights(sizes, seed)
    rows: list[dict] = []
    accuracy: list[pd.DataFrame] = []
    for name in progress(params.families, desc="hpo_scale families"):
        family = make_family(
            name, tree0, problem.T, problem.l2_box, problem.lr_box, problem.l2_0, problem.lr0, params.knots
        )
        pieces = Pieces(family, problem, params)
        rows += run_family(pieces, data, seed, sizes)
        accuracy.append(scale_accuracy.table(pieces, data, sizes, seed))
    runs = pd.DataFrame(rows)
    summary = scale_verdict.summarize(runs)
    verdicts = scale_verdict.verdicts(summary)
    acc = pd.concat(accuracy, ignore_index=True)
    report = {
        "params": params.model_dump(mode="json"),
        "problem": problem.model_dump(mode="json"),
        "seed": seed,
        "crossover": scale_verdict.crossover(summary),
        "verdicts": verdicts,
        "summary": summary.to_dict(orient="records"),
        "accuracy": acc.to_dict(orient="records"),
        "timing_dependent": ["wall_s", "warmup_s", "seconds_per_evaluation"],
    }
    return Result(
        {"runs.csv": runs, "summary.csv": summary, "hypergrad_accuracy.csv": acc},
        scale_verdict.headline(report),
        report,
    )
