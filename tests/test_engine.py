"""The work engine (hyperlab.engine): one or two workers assemble the same results, a killed worker's unit
is redone, and the two stages that use it give their in-process tables with two workers and a third killed
in the middle of a unit.

The toy runs use a journal file in tmp_path and real processes: this file is also the toy's worker and
coordinator script (``python tests/test_engine.py worker|coordinate ...``). Every process runs under a
timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hyperlab import engine
from hyperlab.engine import queue

if __name__ != "__main__":  # the toy's processes need no server
    from test_selection_study_postgres import postgres_url  # noqa: F401  (a fixture: a throwaway server)

REPO = Path(__file__).resolve().parents[1]
FAST = {"HYPERLAB_ENGINE_HEARTBEAT_S": "0.1", "HYPERLAB_ENGINE_GRACE_S": "1.5"}
TIMEOUT_S = 120


def toy_keys(n: int) -> list[dict]:
    return [{"i": i, "name": f"unit-{i}"} for i in range(n)]


def toy_compute(key: dict, folder: Path, hang: bool) -> dict:
    """The toy unit: a pure function of its key. ``hang``: say which unit was claimed, then never return.
    Otherwise wait for ``folder/go`` first, so that a test decides when the coordinator may proceed."""
    if hang:
        (folder / f"claimed-{key['i']}").write_text(str(os.getpid()))
        threading.Event().wait()
    while not (folder / "go").exists():
        time.sleep(0.01)
    return {"i": key["i"], "root": math.sqrt(key["i"]), "nan": float("nan") if key["i"] == 0 else 0.0}


#: Per stage: the module and class whose instances compute a unit (``__call__(key)``).
UNIT_COMPUTE = {
    "hpo_scale": ("hyperlab.hpo.scale_experiment", "Runs"),
    "candidates": ("hyperlab.selection.table.candidates_experiment", "Packs"),
}


def _stage_victim(stage: str, workdir: Path) -> None:
    """``stage-victim <stage> <workdir>``: a ``<stage> --worker`` whose first unit writes ``workdir/claimed`` and
    never returns (its heartbeat goes on), so that the test can kill it in the middle of a real unit."""
    import importlib
    import runpy

    module, name = UNIT_COMPUTE[stage]

    def hang(self, key):
        (workdir / "claimed").write_text(json.dumps(key))
        threading.Event().wait()

    getattr(importlib.import_module(module), name).__call__ = hang
    os.chdir(workdir)
    sys.argv = [str(REPO / "stages" / f"{stage}.py"), "--worker"]
    runpy.run_path(sys.argv[0], run_name="__main__")


def _main(argv: list[str]) -> None:
    """``worker|coordinate <n_units> <folder> [hang]``; the coordinator writes ``folder/out.json``."""
    if argv[0] == "stage-victim":
        _stage_victim(argv[1], Path(argv[2]))
        return
    role, n, folder = argv[0], int(argv[1]), Path(argv[2])
    hang = argv[3:] == ["hang"]
    keys = toy_keys(n)
    compute = lambda key: toy_compute(key, folder, hang)  # noqa: E731
    if role == "worker":
        engine.run_worker(lambda: engine.work("toy", {"n": n}, keys, compute))
        return
    worker = [sys.executable, __file__, "worker", str(n), str(folder)]
    out = engine.map_units("toy", {"n": n}, keys, compute, worker)
    (folder / "out.json").write_text(json.dumps(out))


def _env(target: Path | str, workers: int) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {
        **os.environ,
        **FAST,
        "HYPERLAB_ENGINE": str(target),
        "HYPERLAB_LOCAL_WORKERS": str(workers),
        "PYTHONPATH": src,
    }


def _coordinate(folder: Path, n: int, workers: int) -> list[dict]:
    folder.mkdir(exist_ok=True)
    (folder / "go").touch()
    argv = [sys.executable, __file__, "coordinate", str(n), str(folder)]
    subprocess.run(argv, env=_env(folder / "journal.log", workers), check=True, timeout=TIMEOUT_S)
    return json.loads((folder / "out.json").read_text())


def _ready_studies(target: Path | str) -> list[str]:
    """The studies of ``target`` whose units are all enqueued."""
    if isinstance(target, Path) and not target.exists():
        return []
    studies = queue.open_storage(str(target)).get_all_studies()
    return [s.study_name for s in studies if queue.N_UNITS in s.user_attrs]


def _trials(target: Path | str) -> list:
    storage = queue.open_storage(str(target))
    (summary,) = storage.get_all_studies()
    return storage.get_all_trials(summary._study_id)


def test_one_or_two_workers_assemble_the_same_results_in_unit_order(tmp_path):
    n = 12
    (tmp_path / "go").touch()
    expected = [toy_compute(k, tmp_path, False) for k in toy_keys(n)]
    one, two = _coordinate(tmp_path / "one", n, 1), _coordinate(tmp_path / "two", n, 2)
    assert json.dumps(one) == json.dumps(two) == json.dumps(expected)  # NaN included, in unit order
    for folder in ("one", "two"):
        units = [t.user_attrs[queue.UNIT] for t in _trials(tmp_path / folder / "journal.log")]
        assert sorted(units) == list(range(n)), folder  # exactly one trial per unit: nothing ran twice


def test_a_killed_workers_unit_is_redone(tmp_path):
    _kill_and_redo(tmp_path, tmp_path / "journal.log")


@pytest.mark.slow
def test_a_killed_workers_unit_is_redone_on_postgresql(tmp_path, postgres_url):
    _kill_and_redo(tmp_path, postgres_url)


def _kill_and_redo(tmp_path: Path, target: Path | str) -> None:
    """The victim claims a unit and hangs; it is SIGKILLed; the coordinator finds its heartbeat stopped,
    fails its trial, and redoes the unit."""
    n, env = 4, _env(target, 1)
    coordinator = subprocess.Popen([sys.executable, __file__, "coordinate", str(n), str(tmp_path)], env=env)
    victim = None
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (names := _ready_studies(target)):  # the coordinator holds its first unit until "go"
            assert time.monotonic() < deadline and coordinator.poll() is None
            time.sleep(0.05)
        # the study's name, as the coordinator's own workers get it (an edit of the source meanwhile is no race)
        env = {**env, "HYPERLAB_ENGINE_STUDY": names[0]}
        victim = subprocess.Popen([sys.executable, __file__, "worker", str(n), str(tmp_path), "hang"], env=env)
        while not list(tmp_path.glob("claimed-*")):
            assert time.monotonic() < deadline and victim.poll() is None and coordinator.poll() is None
            time.sleep(0.05)
        (claimed,) = [int(p.name.split("-")[1]) for p in tmp_path.glob("claimed-*")]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=TIMEOUT_S)
        (tmp_path / "go").touch()
        assert coordinator.wait(timeout=TIMEOUT_S) == 0
    finally:
        for p in (victim, coordinator):
            if p is not None and p.poll() is None:
                p.kill()
    out = json.loads((tmp_path / "out.json").read_text())
    assert json.dumps(out) == json.dumps([toy_compute(k, tmp_path, False) for k in toy_keys(n)])
    trials = _trials(target)
    dead = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs[queue.UNIT] for t in dead] == [claimed]
    (redo,) = [t for t in trials if t.user_attrs.get(queue.RETRY_OF) == dead[0].number]
    assert redo.state.name == "COMPLETE" and redo.user_attrs[queue.UNIT] == claimed


def test_a_unit_that_raises_stops_the_run_and_a_rerun_retries_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERLAB_ENGINE", str(tmp_path / "journal.log"))
    monkeypatch.setattr(engine.run, "source_digest", lambda: "fixed")  # both runs: one study, whatever is edited

    def compute(key):
        if key == 2:
            raise ValueError("no square root here")
        return key

    with pytest.raises(ValueError, match="no square root"):
        engine.map_units("toy", {"case": "raises"}, [0, 1, 2, 3], compute, [])
    trials = _trials(tmp_path / "journal.log")
    done, why = queue.progress(trials, 4)  # what any other worker now sees
    assert sorted(done) == [0, 1] and why == "unit 2 2 raised on a worker: ValueError: no square root here"
    # run again: the failed unit (and the one never started) are computed, the complete ones reused
    assert engine.map_units("toy", {"case": "raises"}, [0, 1, 2, 3], lambda k: 10 * k, []) == [0, 1, 20, 30]


def test_no_engine_runs_here_in_order_and_bad_settings_are_one_line(monkeypatch):
    monkeypatch.delenv("HYPERLAB_ENGINE", raising=False)
    monkeypatch.delenv("HYPERLAB_LOCAL_WORKERS", raising=False)
    seen: list[int] = []
    assert engine.map_units("toy", {}, [3, 1, 2], lambda k: seen.append(k) or -k, []) == [-3, -1, -2]
    assert seen == [3, 1, 2]
    monkeypatch.setenv("HYPERLAB_LOCAL_WORKERS", "two")
    with pytest.raises(ValueError, match=r"^environment variable HYPERLAB_LOCAL_WORKERS: got 'two'; must be"):
        engine.settings()


def test_the_study_name_follows_params_and_data():
    import numpy as np

    a = engine.study_name("s", {"p": 1, "x": np.arange(3)})
    assert a == engine.study_name("s", {"x": np.arange(3), "p": 1})
    assert a != engine.study_name("s", {"p": 1, "x": np.arange(3) + 1})
    assert a != engine.study_name("s", {"p": 2, "x": np.arange(3)}) and a.startswith("s-")


# ----------------------------------------------------------------------------------------- the stages


def _stage_tables(tmp_path, mnist_npz, monkeypatch, stage: str, params: dict) -> Path:
    """Run ``stage`` on ``params`` with no engine, in a fresh process: the tables the engine's runs must give."""
    from conftest import run_stage  # here: the toy's worker processes need neither JAX nor pandas

    work = tmp_path / f"{stage}-alone"
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    monkeypatch.delenv("HYPERLAB_ENGINE", raising=False)
    monkeypatch.setenv("HYPERLAB_LOCAL_WORKERS", "1")
    # real processes, as in production: an in-process run would inherit whatever JAX state earlier tests left
    run_stage(stage, work, {"seed": 0, **params}, fresh_process=True)
    return work


def _same_but_timings(a: Path, b: Path, timings: tuple[str, ...], **read) -> None:
    import pandas as pd

    one, two = pd.read_csv(a, **read), pd.read_csv(b, **read)
    assert list(one.columns) == list(two.columns) and len(one) > 0
    keep = [c for c in one.columns if c not in timings]
    pd.testing.assert_frame_equal(one[keep], two[keep], check_exact=True)


def _killed_worker_run(tmp_path: Path, mnist_npz: Path, stage: str, params: dict) -> Path:
    """``stage`` on ``params`` through a journal: the stage's process with its two local workers, and a third
    worker that is SIGKILLed in the middle of the unit it claimed; the stage must finish, with that unit's trial
    failed and redone."""
    import yaml

    from conftest import MNIST_DATA

    work = tmp_path / "killed"
    (work / "data").mkdir(parents=True)
    shutil.copy(mnist_npz, work / "data" / "mnist.npz")
    (work / "params.yaml").write_text(yaml.safe_dump({"seed": 0, "data": MNIST_DATA, **params}))
    env = {**_env(work / "journal.log", 2), "PYTHONHASHSEED": "0"}
    # the victim waits for the study and claims a unit as soon as the stage has enqueued them
    victim = subprocess.Popen([sys.executable, __file__, "stage-victim", stage, str(work)], env=env)
    coordinator = subprocess.Popen([sys.executable, str(REPO / "stages" / f"{stage}.py")], cwd=work, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (work / "claimed").exists():
            assert time.monotonic() < deadline and victim.poll() is None and coordinator.poll() is None
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=TIMEOUT_S)
        assert coordinator.wait(timeout=4 * TIMEOUT_S) == 0
    finally:
        for p in (victim, coordinator):
            if p.poll() is None:
                p.kill()
    trials = _trials(work / "journal.log")
    (dead,) = [t for t in trials if t.state.name == "FAIL"]
    assert json.loads(dead.user_attrs[queue.KEY]) == json.loads((work / "claimed").read_text())
    (redo,) = [t for t in trials if t.user_attrs.get(queue.RETRY_OF) == dead.number]
    assert redo.state.name == "COMPLETE"
    return work


@pytest.mark.slow
def test_hpo_scale_gives_the_in_process_runs_with_two_workers_and_a_third_killed_mid_unit(
    tmp_path, mnist_npz, monkeypatch
):
    from test_hpo_scale import TINY_PROBLEM, TINY_SCALE

    scale = {
        **TINY_SCALE,
        "families": ["layer", "unit"],
        "methods": ["exact", "gp_ei", "tpe", "random"],  # both sides, and the two that do not run at unit
        "compute_budget": 72,
        "step_budget": 24,
        "optuna_max_dim": 10,
        "fd_max_dim": 10,
    }
    params = {"hpo": TINY_PROBLEM, "hpo_scale": scale}
    alone = _stage_tables(tmp_path, mnist_npz, monkeypatch, "hpo_scale", params)
    killed = _killed_worker_run(tmp_path, mnist_npz, "hpo_scale", params)
    timings = ("wall_s", "warmup_s", "seconds_per_evaluation")
    for name in (
        "runs.csv",
        "summary.csv",
        "runs_step_budget.csv",
        "summary_step_budget.csv",
        "hypergrad_accuracy.csv",
    ):
        _same_but_timings(alone / "plots/hpo_scale" / name, killed / "plots/hpo_scale" / name, timings)
    runs = (killed / "plots/hpo_scale/runs.csv").read_text().splitlines()
    assert sum(",False," in line for line in runs) == 2  # the not-run rows (unit: gp_ei, tpe above optuna_max_dim) stay


@pytest.mark.slow
def test_candidates_gives_the_in_process_table_with_two_workers_and_a_third_killed_mid_unit(
    tmp_path, mnist_npz, monkeypatch
):
    from test_selection_table_candidates_packs import TIMINGS, TINY

    params = {"candidates": {**TINY, "max_pack_params": 1}}  # a pack per network: six units
    alone = _stage_tables(tmp_path, mnist_npz, monkeypatch, "candidates", params)
    killed = _killed_worker_run(tmp_path, mnist_npz, "candidates", params)
    table = "data/candidates.csv"
    _same_but_timings(alone / table, killed / table, tuple(TIMINGS), dtype={"arch": str})
    report = json.loads((killed / "plots/candidates/report.json").read_text())
    assert report["n_packs"] == 6


def test_a_worker_without_a_storage_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYPERLAB_ENGINE"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    argv = [sys.executable, str(Path(__file__).resolve().parents[1] / "stages/hpo_scale.py"), "--worker"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: environment variable HYPERLAB_ENGINE: not set")


if __name__ == "__main__":
    _main(sys.argv[1:])
