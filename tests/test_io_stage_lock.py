"""One run of a stage at a time: two runs at once never commit a mix of their outputs.

A run holds an OS lock on its staging folder from before its recovery to the
end of its commit (:mod:`hyperlab.io.lock`). The runs here are real processes
of a tiny stage (two outputs, through :func:`hyperlab.cli.run_stage`), one of
them paused between its two staged writes by a handshake on its stdin and
stdout: it says ``paused`` and goes on when it reads a line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hyperlab import io
from hyperlab.errors import InputError, OutputError
from hyperlab.io import commit, lock

TIMEOUT_S = 120  # far above a run's second or two; only a hang reaches it

#: ``python stage.py <run> [pause]``: writes metrics/s.json, then (paused there if asked) data/s.json.
STAGE = """
import sys

from hyperlab import io
from hyperlab.cli import run_stage


def main():
    io.write_json("metrics/s.json", {"run": sys.argv[1]})
    if sys.argv[2:] == ["pause"]:
        sys.stdout.write("paused\\n")
        sys.stdout.flush()
        sys.stdin.readline()
    io.write_json("data/s.json", {"run": sys.argv[1]})


if __name__ == "__main__":
    run_stage(main, name="s")
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    (tmp_path / "stage.py").write_text(textwrap.dedent(STAGE))
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != lock.WAIT_ENV}
    return {**env, "JAX_PLATFORMS": "cpu", **extra}


def _start(workdir, run: str, **env: str) -> subprocess.Popen:
    """A run paused between its two writes (it holds the lock and has staged its first file)."""
    proc = subprocess.Popen(
        [sys.executable, "stage.py", run, "pause"],
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "paused\n", proc.communicate(timeout=TIMEOUT_S)[1]
    return proc


def _resume(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate("go\n", timeout=TIMEOUT_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _run(workdir, run: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "stage.py", run]
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())


def _runs(workdir) -> tuple[str, str]:
    """Which run wrote each of the two outputs."""
    return tuple(json.loads((workdir / p).read_text())["run"] for p in ("metrics/s.json", "data/s.json"))


def test_a_second_run_is_refused_while_the_first_runs_and_the_set_stays_whole(workdir):
    assert _run(workdir, "old").returncode == 0
    first = _start(workdir, "A")
    try:
        staged = workdir / io.STAGING / "s" / "files"
        assert len(list(staged.iterdir())) == 1  # A's first write, staged
        second = _run(workdir, "B")
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: stage s is running already (pid {first.pid}, lock {io.STAGING / 's.lock'}); "
            f"let it finish, or set {lock.WAIT_ENV}=<seconds> to wait for it"
        ]
        assert len(list(staged.iterdir())) == 1  # its recovery did not run: A's staged file is still there
        assert _runs(workdir) == ("old", "old")
    finally:
        done = _resume(first)
    assert done.returncode == 0, done.stderr
    assert _runs(workdir) == ("A", "A")
    assert not (workdir / io.STAGING).exists()  # the lock file went with the lock


def test_a_second_run_asked_to_wait_runs_after_the_first(workdir):
    first = _start(workdir, "A")
    try:
        second = subprocess.Popen(
            [sys.executable, "stage.py", "B"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(**{lock.WAIT_ENV: str(TIMEOUT_S)}),
        )
        assert second.stderr is not None
        for line in second.stderr:  # its log says it is waiting, and for whom
            if "waiting for the running stage s" in line:
                assert f"(pid {first.pid})" in line
                break
        else:
            pytest.fail("the second run did not wait")
        assert not (workdir / "data/s.json").exists()  # B waits: nothing of it, nor of A, committed yet
    finally:
        done = _resume(first)
    assert done.returncode == 0, done.stderr
    second.communicate(timeout=TIMEOUT_S)
    assert second.returncode == 0
    assert _runs(workdir) == ("B", "B")


def test_the_lock_of_a_killed_run_is_released_and_its_leftovers_recovered(workdir):
    assert _run(workdir, "old").returncode == 0
    first = _start(workdir, "A")
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == -signal.SIGKILL
    assert lock.holder(lock.lock_path("s")) == first.pid  # the file stays; its lock died with the process
    assert (workdir / io.STAGING / "s" / "files").is_dir()
    proc = _run(workdir, "B")
    assert proc.returncode == 0, proc.stderr
    assert "removing the staged files of an interrupted run" in proc.stderr
    assert _runs(workdir) == ("B", "B") and not (workdir / io.STAGING).exists()


def test_recover_alone_never_removes_a_live_run(workdir):
    first = _start(workdir, "A")
    try:
        with pytest.raises(OutputError, match=f"stage s is running already .pid {first.pid},"):
            io.recover("s")
        assert (workdir / io.STAGING / "s" / "files").is_dir()
    finally:
        assert _resume(first).returncode == 0
    assert _runs(workdir) == ("A", "A")


def _snapshot(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("when", ["before-manifest", "after-manifest"])
def test_a_missing_staged_file_stops_the_commit_with_nothing_moved(workdir, monkeypatch, when):
    with io.stage_outputs("s"):
        io.write_json("metrics/s.json", {"run": "old"})
        io.write_json("data/s.json", {"run": "old"})
    before = _snapshot(workdir)
    outputs = None

    def lose_a_staged_file(label):
        if label == when:
            assert outputs is not None
            outputs.files[Path("data/s.json")].unlink()  # as another process removing it would

    monkeypatch.setattr(commit, "_commit_point", lose_a_staged_file)
    with pytest.raises(OutputError) as err:
        with io.stage_outputs("s") as outputs:
            io.write_json("metrics/s.json", {"run": "new"})
            io.write_json("data/s.json", {"run": "new"})
            if when == "before-manifest":  # checked before the manifest is written
                outputs.files[Path("data/s.json")].unlink()
    assert len(str(err.value).splitlines()) == 1
    assert "the staged file of data/s.json is missing" in str(err.value) and "nothing was moved" in str(err.value)
    assert _snapshot(workdir) == before  # nothing moved, no manifest left to roll a partial set forward


def test_a_resumed_commit_still_skips_the_files_it_had_moved(workdir, monkeypatch):
    """Recovery finishes a commit killed after its first move: the moved file is no longer staged."""

    class Killed(BaseException):
        pass

    def kill_after_first_move(label):
        if label == "after-move-0":
            raise Killed

    monkeypatch.setattr(commit, "_commit_point", kill_after_first_move)
    with pytest.raises(Killed):
        with io.stage_outputs("s"):
            io.write_json("metrics/s.json", {"run": "new"})
            io.write_json("data/s.json", {"run": "new"})
    monkeypatch.setattr(commit, "_commit_point", lambda label: None)
    assert (workdir / io.STAGING / "s" / io.MANIFEST).is_file()
    io.recover("s")
    assert _runs(workdir) == ("new", "new") and not (workdir / io.STAGING).exists()


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_bad_wait_is_one_line_naming_the_variable(value):
    with pytest.raises(InputError, match=f"^{lock.WAIT_ENV}: got '{value}'; must be a number of seconds >= 0"):
        lock.wait_seconds(value)
    assert lock.wait_seconds("") == 0 and lock.wait_seconds("2.5") == 2.5
