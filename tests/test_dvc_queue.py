"""Queued experiments: two `dvc exp run --queue -S ...` runs, then `dvc queue start -j 2`, in a git clone.

Runs the ``bilevel`` stage (seconds; its figures add nothing to what is checked) on tiny
params, as a user varying ``order`` would, and checks that both experiments
finish and that ``dvc exp show`` lists both, with their own metrics, computed by
their own code: the library is edited between the two ``--queue`` calls and again
before the queue starts, so an experiment that imported the workspace's library
(the editable install) instead of its own copy would report the wrong value.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _env(clone: Path) -> dict:
    # stage commands call `python`: this interpreter's, whose editable install is the main checkout's
    # src/ (neither the clone's nor the queued copies'): only the stage command's own PYTHONPATH=src
    # can make an experiment import its own library
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "JAX_PLATFORMS": "cpu"}


#: The line of the bilevel experiment that reports its headline, and two edits of it that a queued
#: experiment's metric would show: one queued with the experiment, one left in the workspace.
HEADLINE = '"final_L_val": _sig(val[-1]),'
QUEUED_EDIT, WORKSPACE_EDIT = 1000.0, 2000.0


def _edit_library(clone: Path, offset: float | None) -> None:
    path = clone / "src/hyperlab/bilevel/experiments/order_experiment.py"
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--", str(path)], check=True)
    if offset is not None:
        text = path.read_text()
        assert text.count(HEADLINE) == 1
        path.write_text(text.replace(HEADLINE, f'"final_L_val": _sig(val[-1]) + {offset},'))


def _dvc(clone: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=clone,
        env=_env(clone),
        text=True,
        capture_output=True,
        timeout=kwargs.pop("timeout", 120),
        check=True,
        **kwargs,
    )


def _finished(clone: Path) -> set[str]:
    """Names of the experiments whose result is committed to a ref of their own."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {ref.rsplit("/", 1)[-1] for ref in refs} & {"order-2", "order-3"}


def test_two_queued_experiments_run_in_parallel_and_show_up(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(clone), "config", "user.email", "ci@example.org"], check=True)
    subprocess.run(["git", "-C", str(clone), "config", "user.name", "ci"], check=True)
    # order 2 is queued with the committed code, order 3 with an edited library; the workspace then
    # holds a third version when the queue starts
    for order, edit in ((2, None), (3, QUEUED_EDIT)):
        _edit_library(clone, edit)
        _dvc(
            clone,
            "exp",
            "run",
            "--queue",
            "-n",
            f"order-{order}",
            "-S",
            f"order={order}",
            "-S",
            "bilevel.outer_steps=10",
            "bilevel",
        )
    _edit_library(clone, WORKSPACE_EDIT)
    # the workers inherit stdout / stderr: send them nowhere, or this call waits for them
    subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "start", "-j", "2"],
        cwd=clone,
        env=_env(clone),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=True,
    )
    try:
        # a finished experiment gets its git ref: waiting on refs costs a git call, not a DVC start
        # (about 1.5 CPU-seconds, taken from the workers); DVC's own status is asked every 15 s
        deadline, polls = time.monotonic() + 300, 0
        while len(_finished(clone)) < 2:
            polls += 1
            if polls % 15 == 0:
                status = _dvc(clone, "queue", "status").stdout
                if "Queued" not in status and "Running" not in status:  # every task has ended
                    # the last ref may have landed since the refs were read (a worker writes the ref
                    # before it marks its task done): read them again; one missing means a task failed
                    assert len(_finished(clone)) == 2, status
                    break
            assert time.monotonic() < deadline, _dvc(clone, "queue", "status").stdout
            time.sleep(1)
        # the ref is written a moment before the worker marks its task done: wait for the status too
        status = _dvc(clone, "queue", "status").stdout
        while "Running" in status and time.monotonic() < deadline:
            time.sleep(2)
            status = _dvc(clone, "queue", "status").stdout
        assert status.count("Success") == 2, status
        shown = pd.read_csv(io.StringIO(_dvc(clone, "exp", "show", "--csv").stdout))
    finally:
        subprocess.run(
            [sys.executable, "-m", "dvc", "queue", "stop", "--kill"],
            cwd=clone,
            env=_env(clone),
            capture_output=True,
            timeout=60,
        )
    runs = shown[shown["Experiment"].isin(["order-2", "order-3"])].set_index("Experiment")
    assert sorted(runs.index) == ["order-2", "order-3"]
    assert runs["order"].astype(int).to_dict() == {"order-2": 2, "order-3": 3}
    final = runs["final_L_val"].astype(float)
    # each ran its own code: order 2 the committed library, order 3 the edit queued with it
    assert final["order-2"] < 1.0, final
    assert QUEUED_EDIT <= final["order-3"] < QUEUED_EDIT + 1.0, final
    # ... and its own order: a higher order takes a larger hyper step, so L_val ends lower
    assert final["order-3"] - QUEUED_EDIT < final["order-2"]
