"""A stage's outputs commit as a unit: kills, failed writes, read-only folders, full disks."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import tempfile

import pandas as pd
import pytest

from conftest import REPO, run_stage
from hyperlab import cli, io
from hyperlab.io import staging

FRAME = pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]})


def _snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fake_stage(tmp_path, version: int, fail_after_first: BaseException | None = None):
    """A stage writing a replaced plot folder, then a metrics file; optionally dying in between."""

    def main():
        tables = {"a.csv": FRAME.assign(v=version), f"only_v{version}.csv": FRAME}
        io.write_tables("plots/fake", tables)
        if fail_after_first is not None:
            raise fail_after_first
        io.write_json("metrics/fake.json", {"version": version})
        io.write_npz("data/fake.npz", v=FRAME.to_numpy() * version)

    return main


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    cli.run_stage(_fake_stage(tmp_path, 1), name="fake")
    return tmp_path


def test_outputs_commit_together(workdir):
    before = _snapshot(workdir)
    assert sorted(before) == [
        "data/fake.npz",
        "metrics/fake.json",
        "params.yaml",
        "plots/fake/a.csv",
        "plots/fake/only_v1.csv",
    ]
    cli.run_stage(_fake_stage(workdir, 2), name="fake")
    after = _snapshot(workdir)
    assert sorted(after) == [
        "data/fake.npz",
        "metrics/fake.json",
        "params.yaml",
        "plots/fake/a.csv",
        "plots/fake/only_v2.csv",
    ]
    assert json.loads(after["metrics/fake.json"]) == {"version": 2}


@pytest.mark.parametrize("kill", [RuntimeError("killed"), KeyboardInterrupt()])
def test_killed_between_two_writes_leaves_previous_outputs_byte_for_byte(workdir, kill):
    before = _snapshot(workdir)
    with pytest.raises(type(kill)):
        cli.run_stage(_fake_stage(workdir, 2, fail_after_first=kill), name="fake")
    assert _snapshot(workdir) == before  # no new file, no temp file, nothing changed


def test_sigkill_leftovers_are_removed_at_the_next_start(workdir):
    """A kill -9 cannot be caught: it leaves the staging folder, which the next start removes."""
    staged = workdir / io.STAGING / "fake" / "files"
    staged.mkdir(parents=True)
    (staged / "0000-a.csv").write_text("half")
    legacy = [workdir / "metrics" / ".fake.json.k2j3.tmp.json", workdir / "plots" / "fake" / ".a.csv.x1.tmp.csv"]
    for path in legacy:
        path.write_text("")
    before = {k: v for k, v in _snapshot(workdir).items() if not k.startswith(".") and "/." not in k}
    cli.run_stage(_fake_stage(workdir, 1), name="fake")
    assert _snapshot(workdir) == before
    assert not (workdir / io.STAGING).exists()


def test_a_commit_killed_halfway_is_completed_at_the_next_start(workdir):
    """Killed after the manifest (the commit point) but before every move: the next start rolls forward."""
    outputs = io.StageOutputs("fake")
    token = staging._ACTIVE.set(outputs)
    try:
        _fake_stage(workdir, 2)()
    finally:
        staging._ACTIVE.reset(token)
    real_replace, moved = os.replace, []

    def dying_replace(src, dst):
        if moved and "MANIFEST" not in str(dst):
            raise SystemExit("kill -9")  # the process dies after its first move
        real_replace(src, dst)
        if "MANIFEST" not in str(dst):
            moved.append(dst)

    os.replace = dying_replace
    try:
        with pytest.raises(SystemExit):
            outputs.commit()
    finally:
        os.replace = real_replace
    assert len(moved) == 1 and (outputs.dir / io.MANIFEST).is_file()
    io.recover("fake")
    after = _snapshot(workdir)
    assert sorted(after) == [
        "data/fake.npz",
        "metrics/fake.json",
        "params.yaml",
        "plots/fake/a.csv",
        "plots/fake/only_v2.csv",
    ]
    assert json.loads(after["metrics/fake.json"]) == {"version": 2}


def test_read_only_folder_is_one_line_and_keeps_every_output(workdir, monkeypatch, capsys):
    before = _snapshot(workdir)
    real = tempfile.TemporaryFile

    def refuse_metrics(*args, dir=None, **kwargs):
        if dir is not None and os.path.basename(os.path.normpath(dir)) == "metrics":
            raise PermissionError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse_metrics)
    with pytest.raises(SystemExit) as exit_:
        cli.run_stage(_fake_stage(workdir, 2), name="fake")
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert err[0] == "error: metrics: cannot write (Read-only file system); every previous output is left unchanged"
    assert _snapshot(workdir) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_read_only_folder_for_real(workdir, capsys):
    before = _snapshot(workdir)
    os.chmod(workdir / "metrics", 0o555)
    try:
        with pytest.raises(SystemExit):
            cli.run_stage(_fake_stage(workdir, 2), name="fake")
    finally:
        os.chmod(workdir / "metrics", 0o755)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert _snapshot(workdir) == before


def test_full_disk_is_one_line_and_keeps_every_output(workdir, monkeypatch, capsys):
    before = _snapshot(workdir)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(SystemExit) as exit_:
        cli.run_stage(_fake_stage(workdir, 2), name="fake")
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert err[0].startswith("error: plots/fake/")
    assert _snapshot(workdir) == before


def test_outside_a_stage_each_write_is_atomic_on_its_own(tmp_path):
    io.write_tables(tmp_path / "t", {"a.csv": FRAME, "b.csv": FRAME})
    io.write_tables(tmp_path / "t", {"a.csv": FRAME})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.csv", "t"]


# --------------------------------------------------------------------------- a real stage


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = {"order": 1, "bilevel": {"orders": [0, 1, 2], "outer_steps": 5}}


@pytest.mark.slow
def test_bilevel_stage_killed_between_plots_and_metrics(tmp_path, monkeypatch):
    """The probe's mixed output: plots/bilevel/main.csv at order 2 beside metrics at order 1 -- never again."""
    run_stage("bilevel", tmp_path, TINY)
    before = _snapshot(tmp_path)
    assert "plots/bilevel/main.csv" in before and "metrics/bilevel.json" in before
    stage = _load_stage("bilevel")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after write_tables staged plots/bilevel, before the metrics and report

    from hyperlab import report

    monkeypatch.setattr(report, "write_results", killed)  # what write_outputs calls after the tables
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("order: 2\nbilevel: {orders: [0, 1, 2], outer_steps: 5}\n")
    before["params.yaml"] = (tmp_path / "params.yaml").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        cli.run_stage(stage.main, name="bilevel")
    assert _snapshot(tmp_path) == before
