"""The one process pool of the package: :func:`pool_map`, which stops with one line when a worker dies.

Used by the in-memory search (:mod:`.runner`), the workers on a shared storage and the test-function
studies of the ``sampler_bench`` stage.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hyperlab.errors import OutputError


def star(args):
    """``fn(*rest)`` of ``(fn, *rest)``: one picklable job function for jobs that name their own."""
    fn, *rest = args
    return fn(*rest)


class WorkerDied(OutputError):
    """A worker process of :func:`pool_map` died (a signal, the out-of-memory killer) and took its task with it.

    An :class:`~hyperlab.errors.OutputError`: the stage cannot produce its
    outputs, so it stops with this one line and commits nothing.
    """


def pool_map(
    fn: Callable[[Any], Any],
    jobs: list,
    n_workers: int,
    who: str,
    task: str,
    advice: str,
    on_result: Callable[[], None] | None = None,
    setup: Callable[[], None] | None = None,
) -> list:
    """``[fn(job) for job in jobs]``, in ``n_workers`` spawned processes; ``on_result`` after each result.

    The results come in job order whatever the number of workers, so they
    never depend on it. Every process pool of the package runs here because
    of what happens when a worker dies: ``multiprocessing.Pool`` loses the
    task and waits for it forever, while ``ProcessPoolExecutor`` marks the
    pool broken; that stops the run with :class:`WorkerDied`, one line:
    ``a <who> worker process died running <task> (...); <advice>``.

    A spawned process starts with logging unconfigured, Optuna's level included (which would log
    every trial): ``setup`` runs first in each, the stage's own (``hyperlab.cli.setup_logging``), so
    that no library module sets a process-wide level itself.
    """
    tick = on_result or (lambda: None)
    results = []
    if n_workers == 1:
        for job in jobs:
            results.append(fn(job))
            tick()
        return results
    try:
        with ProcessPoolExecutor(n_workers, multiprocessing.get_context("spawn"), setup) as pool:
            for result in pool.map(fn, jobs):
                results.append(result)
                tick()
    except BrokenProcessPool:
        raise WorkerDied(
            f"a {who} worker process died running {task} (killed by a signal, e.g. the out-of-memory killer?); {advice}"
        ) from None
    return results
