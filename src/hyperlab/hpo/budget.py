"""One budget for every method: a wall-clock allowance and an inner-step count, the trace of a run, and memory.

A method is a sequence of *rounds* (an outer step, a pass of online training, a BO trial).
Each round reports what it ran (:class:`hyperlab.hpo.cost.Cost`: forward steps, reverse
steps, CG products) and the objective f(h) at the h it evaluated; the step budget counts
forward steps. :func:`run_budget` times the rounds after compilation (the caller runs
one round before, untimed) and keeps going until **both** budgets are spent: the
wall-clock results read the prefix within ``seconds``, the inner-step results the
prefix within ``steps``. The step prefix is a deterministic function of the params
(same computations whatever the machine's load), so the headline metrics use it;
wall-clock numbers depend on the machine and are reported beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hyperlab.hpo.cost import Cost


@dataclass
class Round:
    """What one round did: what it ran, and f(h) at the h it evaluated (None: evaluated nothing)."""

    cost: Cost
    h: np.ndarray
    value: float | None


@dataclass
class Trace:
    """A timed run: one row per round (wall seconds since start, cumulative cost, h, f(h)).

    ``steps`` is the cumulative forward steps (the step budget's unit), ``used`` the whole
    cumulative cost (forward, reverse, CG)."""

    wall: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    used: list[Cost] = field(default_factory=list)
    h: list[np.ndarray] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def add(self, wall: float, used: Cost, h: np.ndarray, value: float) -> None:
        self.wall.append(wall)
        self.steps.append(used.forward)
        self.used.append(used)
        self.h.append(np.asarray(h, np.float64))
        self.value.append(float(value) if np.isfinite(value) else float("inf"))

    def best_within(self, *, seconds: float | None = None, steps: int | None = None) -> tuple[float, np.ndarray]:
        """The best f and its h among the rounds that ended within the budget (the first round always counts)."""
        keep = [
            i
            for i in range(len(self.value))
            if i == 0 or ((seconds is None or self.wall[i] <= seconds) and (steps is None or self.steps[i] <= steps))
        ]
        i = min(keep, key=lambda j: self.value[j])
        return self.value[i], self.h[i]


def run_budget(
    rounds: Iterator[Round], *, seconds: float, steps: int, clock: Callable[[], float] = time.perf_counter
) -> Trace:
    """Drive ``rounds`` until ``seconds`` of wall clock and ``steps`` forward steps are both spent."""
    trace, used, start = Trace(), Cost(0), clock()
    for rnd in rounds:
        used = Cost(*(a + b for a, b in zip(used, rnd.cost)))
        if rnd.value is not None:
            trace.add(clock() - start, used, rnd.h, rnd.value)
        if clock() - start >= seconds and used.forward >= steps:
            break
    return trace


def memory_bytes(fn, *args) -> int | None:
    """XLA's estimate of a compiled function's footprint (arguments + outputs + temporaries)."""
    try:
        m = fn.lower(*args).compile().memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # memory_analysis is backend-dependent: unknown rather than wrong
        return None
