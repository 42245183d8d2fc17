"""Queued experiments: two `dvc exp run --queue -S ...` runs, then `dvc queue start -j 2`, in a git clone.

Runs ``figures@bilevel`` (the bilevel stage and its figures: seconds) on tiny
params, as a user varying ``order`` would, and checks that both experiments
finish and that ``dvc exp show`` lists both, with their own metrics.
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
    # stage commands call `python`: this interpreter's; the library is the clone's own src/
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(clone / "src"),
        "JAX_PLATFORMS": "cpu",
    }


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
    for order in (2, 3):
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
            "figures@bilevel",
        )
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
    # each ran its own order: a higher order takes a larger hyper step, so L_val ends lower
    assert runs.loc["order-3", "final_L_val"] < runs.loc["order-2", "final_L_val"]
