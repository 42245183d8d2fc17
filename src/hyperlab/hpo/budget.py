"""One budget for every method: wall clock, inner steps and compute; the trace of a run, and memory.

A method is a sequence of *rounds* (an outer step, a pass of online training, a BO trial).
Each round reports what it ran (:class:`hyperlab.hpo.cost.Cost`: forward steps, reverse
steps, CG products) and the objective f(h) at the h it evaluated. Three budgets read the
same run:

* ``steps``: forward steps only (what the step budget counts);
* ``compute``: forward-step equivalents, every reverse step and CG product converted by the
  measured :class:`hyperlab.hpo.cost.Unit` (what every method runs, charged in one unit);
* ``seconds``: wall clock after compilation (the caller runs one round before, untimed).

:func:`run_budget` keeps going until **every** budget given is spent; each view reads the
prefix of rounds within its budget. The step and compute prefixes are deterministic
functions of the params (same computations whatever the machine's load), so the headline
metrics use them; wall-clock numbers depend on the machine and are reported beside them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hyperlab.hpo.cost import Cost, Unit, equivalents

#: The conversion of a run with no compute budget: every count weighs one forward step.
UNCONVERTED = Unit(1.0, 1.0, 0.0)


@dataclass
class Round:
    """What one round did: what it ran, and f(h) at the h it evaluated (None: evaluated nothing)."""

    cost: Cost
    h: np.ndarray
    value: float | None


@dataclass
class Trace:
    """A timed run: one row per round (wall seconds since start, cumulative cost, h, f(h)).

    ``steps`` is the cumulative forward steps (the step budget's unit), ``compute`` the
    cumulative forward-step equivalents (the compute budget's unit), ``used`` the whole
    cumulative cost (forward, reverse, CG)."""

    unit: Unit = UNCONVERTED  # the conversion ``compute`` is counted in
    wall: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    used: list[Cost] = field(default_factory=list)
    h: list[np.ndarray] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def add(self, wall: float, used: Cost, h: np.ndarray, value: float) -> None:
        self.wall.append(wall)
        self.steps.append(used.forward)
        self.compute.append(equivalents(used, self.unit))
        self.used.append(used)
        self.h.append(np.asarray(h, np.float64))
        self.value.append(float(value) if np.isfinite(value) else float("inf"))

    def within(self, *, seconds: float | None = None, steps: int | None = None, compute: float | None = None) -> int:
        """The index of the last round that ended within every budget given (0: the first round always counts)."""
        last = 0
        for i in range(1, len(self.value)):
            if (
                (seconds is None or self.wall[i] <= seconds)
                and (steps is None or self.steps[i] <= steps)
                and (compute is None or self.compute[i] <= compute)
            ):
                last = i
            else:
                break  # every count grows round by round: no later round is back within
        return last

    def best_within(
        self, *, seconds: float | None = None, steps: int | None = None, compute: float | None = None
    ) -> tuple[float, np.ndarray]:
        """The best f and its h among the rounds that ended within the budget (the first round always counts)."""
        last = self.within(seconds=seconds, steps=steps, compute=compute)
        i = min(range(last + 1), key=lambda j: self.value[j])
        return self.value[i], self.h[i]


def run_budget(
    rounds: Iterator[Round],
    *,
    seconds: float,
    steps: int,
    compute: float = 0.0,
    unit: Unit | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Trace:
    """Drive ``rounds`` until ``seconds`` of wall clock, ``steps`` forward steps and ``compute`` forward-step
    equivalents (converted by ``unit``) are all spent."""
    trace, used, start = Trace(unit or UNCONVERTED), Cost(0), clock()
    for rnd in rounds:
        used = Cost(*(a + b for a, b in zip(used, rnd.cost)))
        if rnd.value is not None:
            trace.add(clock() - start, used, rnd.h, rnd.value)
        spent = equivalents(used, trace.unit)
        if clock() - start >= seconds and used.forward >= steps and spent >= compute:
            break
    return trace


def memory_bytes(fn, *args) -> int | None:
    """XLA's estimate of a compiled function's footprint (arguments + outputs + temporaries)."""
    try:
        m = fn.lower(*args).compile().memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # memory_analysis is backend-dependent: unknown rather than wrong
        return None
