"""No stage reads a half-committed input: a kill at every point of a commit, then a downstream stage.

A commit writes its manifest (the commit point), then moves the staged files
one by one. Killed in between, the outputs are a mix of old and new until the
same stage runs again; meanwhile every other stage that reads any of them must
refuse in one line naming the file and the stage to rerun, and write nothing.
Kills are injected in-process at each labelled commit point (a subprocess
would prove nothing more), plus one real ``kill -9`` of the ``data`` stage.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO
from hyperlab import cli, io
from hyperlab.errors import InputError, OutputError
from hyperlab.io import commit
from hyperlab.io.manifest import process_start


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler of the stage catches it."""


def _snapshot(root) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and io.STAGING.name not in p.parts
    }


def _upstream(version: int):
    """Three outputs: a table and a metrics file, then a replaced plot folder (a stale file in it goes)."""

    def main():
        io.write_csv("data/up.csv", pd.DataFrame({"v": [version] * 3}))
        io.write_json("metrics/up.json", {"version": version})
        io.write_tables(
            "plots/up",
            {"a.csv": pd.DataFrame({"v": [version]}), f"only_v{version}.csv": pd.DataFrame({"v": [version]})},
        )

    return main


def _downstream():
    """Reads the upstream table and metrics; writes its own metrics."""
    table = pd.read_csv("data/up.csv")
    upstream = json.loads(open("metrics/up.json").read())
    io.write_json("metrics/down.json", {"sum": int(table["v"].sum()), "upstream": upstream["version"]})


POINTS = ["before-manifest", "after-manifest", "after-move-0", "after-move-1", "after-move-2", "after-last-move"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    cli.run_stage(_upstream(1), name="up")
    return tmp_path


def _kill_commit_at(monkeypatch, point: str) -> None:
    def commit_point(label):
        if label == point:
            raise Killed(label)

    monkeypatch.setattr(commit, "_commit_point", commit_point)


@pytest.mark.parametrize("point", POINTS)
def test_downstream_never_runs_on_a_mixed_set(workdir, monkeypatch, capsys, point):
    old = _snapshot(workdir)
    _kill_commit_at(monkeypatch, point)
    with pytest.raises(Killed):
        cli.run_stage(_upstream(2), name="up")
    monkeypatch.setattr(commit, "_commit_point", lambda label: None)
    mixed = _snapshot(workdir)
    capsys.readouterr()
    if point == "before-manifest":  # not committed: the old set, whole; downstream may run on it
        assert mixed == old
        cli.run_stage(_downstream, name="down")
        assert json.loads((workdir / "metrics/down.json").read_text()) == {"sum": 3, "upstream": 1}
        return
    with pytest.raises(SystemExit) as exit_:
        cli.run_stage(_downstream, name="down")
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and lines == [
        "error: data/up.csv: is half-committed by stage up (killed during its commit); rerun it: dvc repro up"
    ]
    assert _snapshot(workdir) == mixed  # nothing written, nothing completed behind the upstream's back
    cli.run_stage(_upstream(2), name="up")  # the rerun the line asks for: the new set, whole
    assert sorted(_snapshot(workdir)) == [
        "data/up.csv",
        "metrics/up.json",
        "params.yaml",
        "plots/up/a.csv",
        "plots/up/only_v2.csv",
    ]
    cli.run_stage(_downstream, name="down")
    assert json.loads((workdir / "metrics/down.json").read_text()) == {"sum": 6, "upstream": 2}


@pytest.mark.parametrize("point", POINTS[1:])
def test_a_stage_reading_none_of_the_half_committed_files_runs(workdir, monkeypatch, point):
    _kill_commit_at(monkeypatch, point)
    with pytest.raises(Killed):
        cli.run_stage(_upstream(2), name="up")
    io.check_inputs_committed("other", ["data/mnist.npz", "plots/other"])
    for read in ("data/up.csv", "plots/up", "plots/up/a.csv", "data", "metrics/up.json"):
        with pytest.raises(InputError, match=r"is half-committed by stage up .*rerun it: dvc repro up$"):
            io.check_inputs_committed("other", [read])
    io.check_inputs_committed("up", None)  # its own: the next start of the stage completes it


def test_a_commit_still_running_is_not_rolled_forward(workdir, monkeypatch):
    """Another live process (same machine) is committing: neither a reader nor the stage itself touches it."""
    _kill_commit_at(monkeypatch, "after-move-0")
    with pytest.raises(Killed):
        cli.run_stage(_upstream(2), name="up")
    manifest = workdir / io.STAGING / "up" / io.MANIFEST
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manifest.write_text(
            json.dumps({**json.loads(manifest.read_text()), "pid": sleeper.pid, "started": process_start(sleeper.pid)})
        )
        before = _snapshot(workdir)
        with pytest.raises(InputError) as err:
            io.check_inputs_committed("down", ["data/up.csv"])
        assert str(err.value) == (
            f"data/up.csv: is being committed by stage up right now (pid {sleeper.pid}); "
            f"run this stage again when it has finished"
        )
        with pytest.raises(OutputError, match=f"stage up is committing its outputs right now .pid {sleeper.pid}"):
            io.recover("up")
        assert _snapshot(workdir) == before and manifest.is_file()
    finally:
        sleeper.kill()
        sleeper.wait()
    io.recover("up")  # its process is gone: a killed commit, completed by its own stage
    assert json.loads((workdir / "metrics/up.json").read_text()) == {"version": 2}


def test_a_reused_pid_is_not_taken_for_the_committing_process(workdir, monkeypatch):
    """The manifest's pid now names another process (started later): the commit was killed, not running."""
    _kill_commit_at(monkeypatch, "after-move-0")
    with pytest.raises(Killed):
        cli.run_stage(_upstream(2), name="up")
    manifest = workdir / io.STAGING / "up" / io.MANIFEST
    other = os.getppid()  # alive, but not the process that started at this time
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "pid": other, "started": "1"}))
    with pytest.raises(InputError, match="is half-committed by stage up .killed during its commit."):
        io.check_inputs_committed("down", ["data/up.csv"])


def test_an_unreadable_manifest_blocks_every_reader(workdir):
    (workdir / io.STAGING / "up").mkdir(parents=True)
    (workdir / io.STAGING / "up" / io.MANIFEST).write_text("{not json")
    with pytest.raises(InputError) as err:
        io.check_inputs_committed("down", ["anything.csv"])
    assert str(err.value) == (
        ".hyperlab-staging/up/MANIFEST.json: unreadable manifest of an unfinished commit of "
        "stage up, so any output may be half-committed; rerun it: dvc repro up"
    )


def test_stage_reads_come_from_the_pipeline_file():
    dvc = REPO / "dvc.yaml"
    outputs = lambda name: [r for r in cli.stage_reads(name, dvc) if not r.startswith(("src/", "stages/"))]
    assert outputs("candidates") == ["data/mnist.npz"]
    assert outputs("search@tpe") == ["data/candidates.csv"]
    assert outputs("figures@bilevel") == ["plots/bilevel"]
    assert outputs("data") == []
    assert cli.stage_reads("no_such_stage", dvc) is None  # unknown: any unfinished commit refuses
    assert cli.stage_reads("data", REPO / "no_such_dvc.yaml") is None


# --------------------------------------------------------------------------- room on another file system


def test_no_room_for_copies_on_another_file_system_is_one_line(workdir, monkeypatch, capsys):
    before = _snapshot(workdir)
    real = commit._device
    monkeypatch.setattr(commit, "_device", lambda path: real(path) + (1 if "data" in os.fspath(path) else 0))
    monkeypatch.setattr(commit, "_free_bytes", lambda path: 1)
    with pytest.raises(SystemExit) as exit_:
        cli.run_stage(_upstream(2), name="up")
    lines = capsys.readouterr().err.strip().splitlines()
    size = len(pd.DataFrame({"v": [2] * 3}).to_csv(index=False))
    assert exit_.value.code == 2 and lines == [
        f"error: data: {size} bytes of outputs to copy there but only 1 free "
        f"on its file system; every previous output is left unchanged"
    ]
    assert _snapshot(workdir) == before and not (workdir / io.STAGING).exists()


def test_room_on_the_same_file_system_is_not_asked(workdir, monkeypatch):
    monkeypatch.setattr(commit, "_free_bytes", lambda path: 0)  # a move within one file system needs no room
    cli.run_stage(_upstream(2), name="up")
    assert json.loads((workdir / "metrics/up.json").read_text()) == {"version": 2}


# --------------------------------------------------------------------------- a real kill -9


KILL_AT = (
    "import os, runpy, signal, sys; from hyperlab.io import commit; point = sys.argv[1]; "
    "commit._commit_point = lambda label: os.kill(os.getpid(), signal.SIGKILL) if label == point else None; "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _stage(workdir, stage: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0", "JAX_PLATFORMS": "cpu"}
    script = str(REPO / "stages" / f"{stage}.py")
    argv = [sys.executable, "-c", KILL_AT, kill_at, script] if kill_at else [sys.executable, script]
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_data_stage_killed_mid_commit_then_candidates_refuses(tmp_path):
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")  # the stage's reads come from it, as in the repository
    (tmp_path / "params.yaml").write_text("seed: 0\ndata: {n_train: 300, n_val: 100, n_test: 100}\n")
    assert _stage(tmp_path, "data").returncode == 0
    (tmp_path / "params.yaml").write_text("seed: 1\ndata: {n_train: 300, n_val: 100, n_test: 100}\n")
    killed = _stage(tmp_path, "data", kill_at="after-move-0")
    assert killed.returncode == -signal.SIGKILL
    mixed = _snapshot(tmp_path)
    proc = _stage(tmp_path, "candidates")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines == [
        "error: data/mnist.npz: is half-committed by stage data (killed during its commit); rerun it: dvc repro data"
    ], proc.stderr
    assert _snapshot(tmp_path) == mixed
    assert _stage(tmp_path, "data").returncode == 0
    assert io.unfinished_commits(tmp_path) == []
