"""A worker process killed mid-task (a signal, the out-of-memory killer) ends the run with one line, never a hang.

Every process pool of the package runs in :func:`hyperlab.selection.study.pool.pool_map`:
the in-memory search (``search.storage: none`` with ``n_workers > 1``) and the test-function
studies of ``sampler_bench``. Each test runs a real pool in a fresh interpreter, with a time
limit, so a regression (a pool that waits forever for the lost task) fails instead of hanging.
The worker kills itself with SIGKILL in the middle of a study (after two trials), which no
handler can catch, as the out-of-memory killer does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from hyperlab.errors import OutputError
from hyperlab.selection.study.pool import WorkerDied
from hyperlab.selection.study.runner import RunSpec, run_strategy
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table

TIMEOUT_S = 120  # far above a run's few seconds; only a hang reaches it

#: Patches (in the parent, before the pool starts) the function each worker runs with one that,
#: in the job ``DIE_IN``, kills its own process at the third trial. The workers are spawned: they
#: import this file afresh as ``__mp_main__`` and run the original functions it wraps.
SCRIPT = """
import os, signal, sys

from hyperlab.selection.analysis import sampler_bench_experiment as sampler_bench
from hyperlab.selection.study import pool, runner
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table

REAL_REPEAT, REAL_FUNCTION_RUN = runner._run_memory_repeat, sampler_bench.function_run


def kill_at_third_trial(make_objective):
    def make(*args):
        objective = make_objective(*args)

        def dying(trial):
            if trial.number == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return objective(trial)

        return dying

    return make


def dying_repeat(table, spec, repeat):
    if repeat == 1:
        runner.table_objective = kill_at_third_trial(runner.table_objective)
    return REAL_REPEAT(table, spec, repeat)


def dying_function_run(job):
    if job[2] == 1:  # repeat 1 of the first function and sampler
        sampler_bench.function_objective = kill_at_third_trial(sampler_bench.function_objective)
    return REAL_FUNCTION_RUN(job)


if __name__ == "__main__":
    try:
        if sys.argv[1] == "search":
            runner._run_memory_repeat = dying_repeat
            table = Table.of(synthetic_table(layers=(1, 2), widths=(16, 32), n_seeds=1, seed=3, fail_rate=0.0))
            spec = runner.RunSpec(
                "random_uniform", n_trials=4, repeats=3, n_startup_trials=2, cost="latency", n_workers=2
            )
            runner.run_strategy(table, spec)
        else:
            sampler_bench.function_run = dying_function_run
            sampler_bench._functions(sampler_bench.function_jobs(2, 4, 2, 0)[:3], 2, lambda: None)
    except pool.WorkerDied as err:
        print(f"{type(err).__name__} {isinstance(err, OSError)}")
        print(err)
        sys.exit(3)
    sys.exit(0)
"""


def _run_killing_a_worker(tmp_path, pool: str) -> subprocess.CompletedProcess:
    script = tmp_path / "kill_a_worker.py"
    script.write_text(textwrap.dedent(SCRIPT))
    return subprocess.run(
        [sys.executable, str(script), pool], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S
    )


@pytest.mark.parametrize(
    "pool, line",
    [
        (
            "search",
            "a search worker process died running strategy random_uniform (killed by a signal, e.g. the "
            "out-of-memory killer?); nothing was written; rerun, with fewer search.n_workers if memory ran out",
        ),
        (
            "sampler_bench",
            "a sampler_bench worker process died running the test-function studies (killed by a signal, e.g. "
            "the out-of-memory killer?); nothing was written; rerun, with fewer sampler_bench.n_workers if "
            "memory ran out",
        ),
    ],
)
def test_a_worker_killed_mid_task_ends_the_run_with_one_line(tmp_path, pool, line):
    proc = _run_killing_a_worker(tmp_path, pool)
    assert proc.returncode == 3, proc.stderr[-3000:]
    # an OutputError (an OSError): run_stage prints it as one line and exits 2, committing nothing
    assert proc.stdout.splitlines() == ["WorkerDied True", line]


def test_worker_died_is_a_one_line_stage_error():
    assert issubclass(WorkerDied, OutputError)


def test_in_memory_search_gives_the_same_frame_with_any_number_of_workers():
    table = Table.of(synthetic_table(layers=(1, 2), widths=(16, 32), n_seeds=1, seed=3, fail_rate=0.0))
    frames = [
        run_strategy(table, RunSpec("tpe", n_trials=5, repeats=3, n_startup_trials=2, cost="latency", n_workers=n))
        for n in (1, 2)
    ]
    assert len(frames[0]) == 15 and sorted(set(frames[0]["repeat"])) == [0, 1, 2]
    pd.testing.assert_frame_equal(frames[1], frames[0])
