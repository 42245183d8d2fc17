"""The ``hpo`` experiment: every method on the same MNIST objective, under one budget, over seeds.

``run(params, arrays, progress) -> Result``: for every method and seed, the rounds of
the method (:mod:`.gradient`, :mod:`.hypernet`, :mod:`.bayes`) are timed after a
warm-up that compiles them (:mod:`.budget`); the best h found within the inner-step
budget (deterministic) and within the wall-clock budget (machine-dependent) is
retrained and scored on validation and test. A second table measures each
approximate hypergradient against exact reverse mode at a few points of the box.
"""

from __future__ import annotations

import time
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree

from hyperlab.hpo import bayes, budget, gradient, hypernet
from hyperlab.hpo.budget import memory_bytes
from hyperlab.hpo.problem import Spec, evaluate, init_weights, make_data, objective
from hyperlab.progress import silent
from hyperlab.report import Result


def method_names(params) -> list[str]:
    """``hpo.methods`` expanded: ``online`` -> ``online<n>`` per order, ``kpiece`` -> ``kpiece<K>``."""
    out = []
    for m in params.methods:
        if m == "online":
            out += [f"online{n}" for n in params.orders]
        elif m == "kpiece":
            out.append(f"kpiece{params.pieces}")
        else:
            out.append(m)
    return out


def make_spec(params) -> Spec:
    n_layers = len(params.hidden) + 1
    low = (params.l2_box[0],) * n_layers + ((float(np.log(params.lr_box[0])),) if params.tune_lr else ())
    high = (params.l2_box[1],) * n_layers + ((float(np.log(params.lr_box[1])),) if params.tune_lr else ())
    return Spec((784, *params.hidden, 10), params.T, params.tune_lr, float(np.log(params.lr0)), low, high)


def initial_h(spec: Spec, params) -> np.ndarray:
    return np.array([params.l2_0] * spec.n_layers + ([np.log(params.lr0)] if spec.tune_lr else []), np.float32)


class Methods:
    """The jitted pieces of every method, compiled once and shared by all seeds."""

    def __init__(self, spec: Spec, params):
        self.spec, self.p = spec, params
        self.f = jax.jit(lambda d, t, w0, h: objective(spec, d, t, w0, h))
        self.hn = hypernet.HypernetSettings(
            params.hypernet_every, params.hypernet_batch, params.hypernet_sigma, params.hypernet_phi_lr, params.outer_lr
        )
        self._cache: dict[str, Any] = {}

    def _piece(self, name: str):
        fn: Any  # a jitted step or pass, a (start, run) pair for the hypernetwork, None for the samplers
        if name not in self._cache:
            spec, p = self.spec, self.p
            if name == "exact":
                fn = gradient.descent_step(spec, gradient.exact(spec), p.outer_lr)
            elif name == "drmad":
                fn = gradient.descent_step(spec, gradient.kpiece(spec, 1), p.outer_lr)
            elif name.startswith("kpiece"):
                fn = gradient.descent_step(spec, gradient.kpiece(spec, int(name[6:])), p.outer_lr)
            elif name == "ift":
                fn = gradient.descent_step(spec, gradient.ift(spec, p.cg_maxiter), p.outer_lr)
            elif name.startswith("online"):
                fn = gradient.online_pass(spec, int(name[6:]), p.online_every, p.outer_lr)
            elif name == "hypernet":
                fn = (hypernet.init(spec, self.hn), hypernet.chunk(spec, self.hn))
            else:
                fn = None
            self._cache[name] = fn
        return self._cache[name]

    def rounds(self, name: str, seed: int, data, tree, w0, h0):
        spec, piece = self.spec, self._piece(name)
        if name.startswith("online"):
            return gradient.online_rounds(spec.T, piece, self.f, data, tree, w0, h0)
        if name == "hypernet":
            return hypernet.rounds(
                spec, self.hn, *cast(tuple[Any, Any], piece), self.f, data, tree, w0, h0, jax.random.PRNGKey(seed)
            )
        if piece is None:
            return bayes.rounds(
                spec, bayes.make_sampler(name, seed, self.p.n_startup_trials), self.f, data, tree, w0, h0
            )
        return gradient.descent_rounds(spec.T, piece, data, tree, w0, h0)

    def memory(self, name: str, data, tree, w0, h0) -> int | None:
        piece, h0 = self._piece(name), jnp.asarray(h0)
        if piece is None:
            return memory_bytes(self.f, data, tree, w0, h0)
        if name.startswith("online"):
            return memory_bytes(piece, data, tree, w0, h0)
        if name == "hypernet":
            state = piece[0](data, tree, w0, h0, jax.random.PRNGKey(0))
            return memory_bytes(piece[1], data, tree, w0, state)
        return memory_bytes(piece, data, tree, w0, h0, piece.init(h0))


def _weights(spec: Spec, seed: int):
    tree = init_weights(spec.sizes, jax.random.PRNGKey(seed))
    return tree, ravel_pytree(tree)[0]


def _scores(ev, data, tree, w0, h) -> dict:
    return {k: float(v) for k, v in ev(data, tree, w0, jnp.asarray(h, jnp.float32)).items()}


def run_methods(params, spec: Spec, data, seed0: int, progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method x seed under the budget: the trace table and one row per run."""
    methods, h0 = Methods(spec, params), initial_h(spec, params)
    ev = jax.jit(lambda d, t, w0, h: evaluate(spec, d, t, w0, h))
    names = bayes.coordinate_names(spec)
    traces, runs = [], []
    for name in progress(method_names(params), desc="hpo methods"):
        tree, w0 = _weights(spec, seed0)
        start = time.perf_counter()
        warm = methods.rounds(name, seed0, data, tree, w0, h0)
        next(warm), next(warm)  # compiles every jitted piece of the method (untimed)
        warmup_s = time.perf_counter() - start
        memory = methods.memory(name, data, tree, w0, h0)
        for s in range(params.seeds):
            seed = seed0 + s
            tree, w0 = _weights(spec, seed)
            trace = budget.run_budget(
                methods.rounds(name, seed, data, tree, w0, h0), seconds=params.budget_seconds, steps=params.step_budget
            )
            for i in range(len(trace.value)):
                traces.append(
                    {
                        "method": name,
                        "seed": seed,
                        "round": i,
                        "wall_s": trace.wall[i],
                        "inner_steps": trace.steps[i],
                        "val_loss": trace.value[i],
                        **dict(zip(names, trace.h[i])),
                    }
                )
            v_steps, h_steps = trace.best_within(steps=params.step_budget)
            v_wall, h_wall = trace.best_within(seconds=params.budget_seconds)
            at_steps, at_wall = _scores(ev, data, tree, w0, h_steps), _scores(ev, data, tree, w0, h_wall)
            in_wall = [i for i in range(len(trace.wall)) if trace.wall[i] <= params.budget_seconds]
            runs.append(
                {
                    "method": name,
                    "seed": seed,
                    "val_loss": v_steps,
                    "test_error": at_steps["test_error"],
                    "test_loss": at_steps["test_loss"],
                    **dict(zip(names, h_steps)),
                    "val_loss_wall": v_wall,
                    "test_error_wall": at_wall["test_error"],
                    "rounds_in_wall": len(in_wall),
                    "steps_in_wall": trace.steps[in_wall[-1]] if in_wall else 0,
                    "seconds_to_step_budget": next(
                        (trace.wall[i] for i in range(len(trace.wall)) if trace.steps[i] >= params.step_budget), None
                    ),
                    "initial_val_loss": trace.value[0],
                    "warmup_s": warmup_s,
                    "memory_bytes": memory,
                }
            )
    return pd.DataFrame(traces), pd.DataFrame(runs)


def summarize(runs: pd.DataFrame, coords: list[str]) -> pd.DataFrame:
    """Median and quartiles over seeds, per method, in the order the methods ran."""
    rows = []
    for name, g in runs.groupby("method", sort=False):
        row = {"method": name}
        for col in ("val_loss", "test_error", "val_loss_wall", "test_error_wall"):
            q1, med, q3 = np.percentile(g[col], [25, 50, 75])
            row.update({col: med, f"{col}_q1": q1, f"{col}_q3": q3})
        row.update({c: float(np.median(g[c])) for c in coords})
        row.update(
            {
                "rounds_in_wall": float(np.median(g["rounds_in_wall"])),
                "steps_in_wall": float(np.median(g["steps_in_wall"])),
                "seconds_to_step_budget": float(np.median(g["seconds_to_step_budget"].astype(float))),
                "warmup_s": float(g["warmup_s"].iloc[0]),
                "memory_mb": (None if pd.isna(g["memory_bytes"].iloc[0]) else g["memory_bytes"].iloc[0] / 2**20),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_table(params, spec: Spec, data, seed0: int) -> pd.DataFrame:
    """Each approximate hypergradient against exact reverse mode (and central differences) at a few h."""
    rng = np.random.default_rng(seed0)
    h0 = initial_h(spec, params)
    points = [h0] + [rng.uniform(spec.low, spec.high).astype(np.float32) for _ in range(params.check_points - 1)]
    tree, w0 = _weights(spec, seed0)
    fns = {
        "exact": gradient.exact(spec),
        "drmad": gradient.kpiece(spec, 1),
        f"kpiece{params.pieces}": gradient.kpiece(spec, params.pieces),
        "ift": gradient.ift(spec, params.cg_maxiter),
        **{f"online{n}": gradient.truncated(spec, n) for n in params.orders},
    }
    fns = {k: jax.jit(v) for k, v in fns.items()}
    f = jax.jit(lambda d, t, w, h: objective(spec, d, t, w, h))
    rows = []
    h: np.ndarray | jax.Array
    for p, h in enumerate(points):
        h = jnp.asarray(h)
        _, g_exact = (np.asarray(x, np.float64) for x in fns["exact"](data, tree, w0, h))
        eye = np.eye(spec.dim, dtype=np.float32) * params.fd_eps
        fd = np.array(
            [(float(f(data, tree, w0, h + e)) - float(f(data, tree, w0, h - e))) / (2 * params.fd_eps) for e in eye]
        )
        for name, fn in [("central_differences", None)] + list(fns.items()):
            g = fd if fn is None else np.asarray(fn(data, tree, w0, h)[1], np.float64)
            comp = slice(0, spec.n_layers) if name == "ift" else slice(None)  # IFT: no log-lr gradient
            rows.append(
                {
                    "point": p,
                    "method": name,
                    "rel_err": gradient.relative_error(g[comp], g_exact[comp]),
                    "cosine": gradient.cosine(g[comp], g_exact[comp]),
                    "compared": "log_l2" if name == "ift" else "all",
                    **{f"h_{i}": float(x) for i, x in enumerate(np.asarray(h))},
                    **{f"grad_{i}": float(x) for i, x in enumerate(g)},
                }
            )
    return pd.DataFrame(rows)


#: the methods whose median validation loss (at the inner-step budget) is a headline number: the reference
#: gradient method against the best BO sampler (the rest is in the report; dvc exp show has 40 columns in all)
HEADLINE_METHODS = ("exact", "tpe")


def headline(report: dict) -> dict:
    """The few numbers ``dvc exp show`` compares, read off the report (deterministic: step budget)."""
    med = {row["method"]: row["val_loss"] for row in report["summary"]}
    return {f"{m}_val_loss": float(med[m]) for m in HEADLINE_METHODS if m in med}


def run(params, arrays: dict, seed: int = 0, progress=silent) -> Result:
    """The whole experiment (see the module docstring); writes nothing."""
    spec = make_spec(params)
    data = make_data(arrays, params.n_train)
    traces, runs = run_methods(params, spec, data, seed, progress)
    coords = bayes.coordinate_names(spec)
    summary = summarize(runs, coords)
    accuracy = accuracy_table(params, spec, data, seed)
    initial = float(np.median(runs["initial_val_loss"]))
    report = {
        "params": params.model_dump(mode="json"),
        "seed": seed,
        "coordinates": coords,
        "initial_val_loss": initial,
        "summary": summary.to_dict(orient="records"),
        "accuracy": accuracy.to_dict(orient="records"),
        "timing_dependent": [
            "*_wall",
            "rounds_in_wall",
            "steps_in_wall",
            "seconds_to_step_budget",
            "warmup_s",
            "wall_s",
        ],
    }
    return Result(
        {"trace.csv": traces, "runs.csv": runs, "summary.csv": summary, "hypergrad_accuracy.csv": accuracy},
        headline(report),
        report,
    )
