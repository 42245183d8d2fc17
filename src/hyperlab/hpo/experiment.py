"""The ``hpo`` experiment: every method on the same MNIST objective, under one budget, over seeds.

``run(params, arrays, seed, progress) -> Result``: the problem is the ``layer`` family
(:mod:`.families`: one log L2 per layer and the log learning rate), run through the same
methods as ``hpo_scale`` (:mod:`.methods`). For every method and seed, its rounds are
timed after a warm-up that compiles them (:mod:`.budget`); the best h found within the inner-step
budget (deterministic) and within the wall-clock budget (machine-dependent) is
retrained and scored on validation and test. A second table measures each
approximate hypergradient against exact reverse mode at a few points of the box.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np
import pandas as pd

from hyperlab.hpo import best_response, budget, gradient
from hyperlab.hpo.families import Family, coordinate_names, make_family
from hyperlab.hpo.methods import Pieces, Settings
from hyperlab.hpo.problem import initial_weights, make_data, network_sizes
from hyperlab.progress import silent
from hyperlab.report import Result

if TYPE_CHECKING:
    from hyperlab.config.sections.hpo import HpoParams


def method_names(params: HpoParams) -> list[str]:
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


def sizes(params: HpoParams) -> tuple[int, ...]:
    return network_sizes(params.hidden)


def make_pieces(params: HpoParams) -> Pieces:
    """The ``layer`` family (per-layer log L2, and the log learning rate when tuned) and its methods."""
    family = make_family("layer", initial_weights(sizes(params), 0)[0], params)
    hn = best_response.HypernetSettings(
        params.hypernet_every, params.hypernet_batch, params.hypernet_sigma, params.hypernet_phi_lr, params.outer_lr
    )
    settings = Settings(params.outer_lr, params.online_every, params.cg_maxiter, params.n_startup_trials, hn)
    return Pieces(family, params.T, settings)


def _scores(ev, data, tree, w0, h) -> dict:
    return {k: float(v) for k, v in ev(data, tree, w0, jnp.asarray(h, jnp.float32)).items()}


def _trace_rows(name: str, seed: int, trace: budget.Trace, names: list[str]) -> list[dict]:
    """trace.csv's rows of one run: one per round, with the cumulative cost (:mod:`hyperlab.hpo.cost`)."""
    return [
        {
            "method": name,
            "seed": seed,
            "round": i,
            "wall_s": trace.wall[i],
            "inner_steps": trace.steps[i],
            "reverse_steps": trace.used[i].reverse,
            "cg_products": trace.used[i].cg,
            "val_loss": trace.value[i],
            **dict(zip(names, trace.h[i])),
        }
        for i in range(len(trace.value))
    ]


def run_methods(params: HpoParams, pieces: Pieces, data, seed0: int, progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method x seed under the budget: the trace table and one row per run."""
    names = coordinate_names(pieces.family)
    traces, runs = [], []
    for name in progress(method_names(params), desc="hpo methods"):
        tree, w0 = initial_weights(sizes(params), seed0)
        start = time.perf_counter()
        warm = pieces.rounds(name, seed0, data, tree, w0)
        next(warm), next(warm)  # compiles every jitted piece of the method (untimed)
        warmup_s = time.perf_counter() - start
        memory = pieces.memory(name, data, tree, w0)
        for s in range(params.seeds):
            seed = seed0 + s
            tree, w0 = initial_weights(sizes(params), seed)
            trace = budget.run_budget(
                pieces.rounds(name, seed, data, tree, w0), seconds=params.budget_seconds, steps=params.step_budget
            )
            traces += _trace_rows(name, seed, trace, names)
            v_steps, h_steps = trace.best_within(steps=params.step_budget)
            v_wall, h_wall = trace.best_within(seconds=params.budget_seconds)
            at_steps = _scores(pieces.scores, data, tree, w0, h_steps)
            at_wall = _scores(pieces.scores, data, tree, w0, h_wall)
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


def _gradients(params: HpoParams, pieces: Pieces) -> dict:
    """The hypergradients the accuracy table compares, by label (``truncated``: what ``online<n>`` follows)."""
    return {
        "exact": pieces.hypergradient("exact"),
        "drmad": pieces.hypergradient("drmad"),
        f"kpiece{params.pieces}": pieces.hypergradient("kpiece", params.pieces),
        "ift": pieces.hypergradient("ift"),
        **{f"online{n}": pieces.hypergradient("truncated", n) for n in params.orders},
    }


def accuracy_table(params: HpoParams, pieces: Pieces, data, seed0: int) -> pd.DataFrame:
    """Each approximate hypergradient against exact reverse mode (and central differences) at a few h."""
    family: Family = pieces.family
    rng = np.random.default_rng(seed0)
    points = [family.h0] + [
        rng.uniform(family.low, family.high).astype(np.float32) for _ in range(params.check_points - 1)
    ]
    tree, w0 = initial_weights(sizes(params), seed0)
    fns, f, l2 = _gradients(params, pieces), pieces.f, ~family.is_lr
    rows = []
    for p, point in enumerate(points):
        h = jnp.asarray(point)
        g_exact = np.asarray(fns["exact"](data, tree, w0, h)[1], np.float64)
        eye = np.eye(family.dim, dtype=np.float32) * params.fd_eps
        fd = np.array(
            [(float(f(data, tree, w0, h + e)) - float(f(data, tree, w0, h - e))) / (2 * params.fd_eps) for e in eye]
        )
        for name, fn in [("central_differences", None)] + list(fns.items()):
            g = fd if fn is None else np.asarray(fn(data, tree, w0, h)[1], np.float64)
            comp = l2 if name == "ift" else np.ones(family.dim, bool)  # IFT: no log-lr gradient
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


def run(params: HpoParams, arrays: dict, seed: int = 0, progress=silent) -> Result:
    """The whole experiment (see the module docstring); writes nothing."""
    pieces = make_pieces(params)
    data = make_data(arrays, params.n_train)
    traces, runs = run_methods(params, pieces, data, seed, progress)
    coords = coordinate_names(pieces.family)
    summary = summarize(runs, coords)
    accuracy = accuracy_table(params, pieces, data, seed)
    unit = pieces.unit(data, *initial_weights(sizes(params), seed))
    initial = float(np.median(runs["initial_val_loss"]))
    report = {
        "params": params.model_dump(mode="json"),
        "seed": seed,
        "coordinates": coords,
        "budget_unit": unit._asdict(),  # forward-step equivalents of a reverse step and a CG product
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
