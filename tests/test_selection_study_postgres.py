"""Distributed search on a real PostgreSQL server: workers share studies, a killed worker loses nothing.

Starts a throwaway PostgreSQL server (Debian's ``postgresql`` package:
``initdb`` / ``pg_ctl``) on a temporary data folder, listening on a unix socket
only. As root, the server runs as the ``postgres`` (or ``nobody``) user, as
PostgreSQL refuses to run as root. Skipped when the server binaries are absent,
unless ``HYPERLAB_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it after installing them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from conftest import REPO
from hyperlab.config import SEARCH_STRATEGIES
from hyperlab.selection.table.synthetic import synthetic_table

pytestmark = pytest.mark.slow


def _bin_dir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK) and os.access(Path(candidate) / "pg_ctl", os.X_OK):
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def _as_server_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.environ.get("HYPERLAB_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    user = None
    if os.geteuid() == 0:
        user = next(u for u in ("postgres", "nobody") if _has_user(u))
    root = Path(tempfile.mkdtemp(prefix="hyperlab-pg-", dir="/tmp"))  # short: unix socket paths are limited
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    for folder in (data, sock):
        folder.mkdir()
        if user:
            pw = pwd.getpwnam(user)
            os.chown(folder, pw.pw_uid, pw.pw_gid)
    port = 54000 + os.getpid() % 1000  # names the socket file only: no TCP listener
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "hyperlab", "-A", "trust", "--no-sync", "-E", "UTF8"], user
        ),
        **run,
    )
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(sock / "server.log"), "-w", "start"],
            user,
        ),
        **run,
    )
    try:
        yield f"postgresql+psycopg2://hyperlab@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _workdir(tmp_path: Path, **search) -> dict:
    (tmp_path / "data").mkdir(exist_ok=True)
    table = synthetic_table(layers=(1, 2, 3), widths=(16, 32, 64, 128), n_seeds=2, seed=3, fail_rate=0.0)  # 84
    table.to_csv(tmp_path / "data" / "candidates.csv", index=False)
    strategies = {s: {"n_startup_trials": 3} for s in SEARCH_STRATEGIES}
    return {
        "seed": 0,
        "candidates": {"layers": [1, 2, 3], "widths": [16, 32, 64, 128], "n_seeds": 2},
        "search": {"strategies": strategies, "n_trials": 8, "repeats": 2, **search},
    }


def _start(tmp_path: Path, params: dict, strategy: str) -> subprocess.Popen:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.Popen(
        [sys.executable, str(REPO / "stages" / "search.py"), strategy],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _search(tmp_path: Path, params: dict, strategy: str) -> pd.DataFrame:
    proc = _start(tmp_path, params, strategy)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return pd.read_csv(tmp_path / "data" / "search" / f"{strategy}.csv", dtype={"arch": str})


def _complete_count(url: str, prefix: str) -> int:
    """COMPLETE trials of the studies whose names start with ``prefix`` (the server is shared by the tests)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    query = sqlalchemy.text(
        "SELECT count(*) FROM trials t JOIN studies s ON t.study_id = s.study_id "
        "WHERE s.study_name LIKE :prefix AND t.state = 'COMPLETE'"
    )
    try:
        with engine.connect() as conn:
            return conn.execute(query, {"prefix": f"{prefix}%"}).scalar()
    except sqlalchemy.exc.ProgrammingError:  # tables not created yet
        return 0
    finally:
        engine.dispose()


def _workers(pid: int) -> list:
    import psutil

    return [p for p in psutil.Process(pid).children() if "resource_tracker" not in " ".join(p.cmdline())]


def test_one_worker_on_postgres_runs_the_in_memory_trials(tmp_path, postgres_url):
    params = _workdir(tmp_path)
    memory = _search(tmp_path, params, "tpe")
    params["search"]["storage"] = postgres_url
    pd.testing.assert_frame_equal(_search(tmp_path, params, "tpe"), memory)


def test_three_workers_with_one_killed_finish_every_study_exactly(tmp_path, postgres_url):
    n_trials, repeats = 40, 2
    params = _workdir(tmp_path, storage=postgres_url, n_workers=3, n_trials=n_trials, repeats=repeats)
    proc = _start(tmp_path, params, "random_layerwise")
    deadline = time.monotonic() + 120
    while _complete_count(postgres_url, "random_layerwise-") < 15:  # mid-run: some trials done, most still waiting
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
        time.sleep(0.05)
    workers = _workers(proc.pid)
    assert len(workers) == 3
    os.kill(workers[1].pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert _complete_count(postgres_url, "random_layerwise-") < n_trials * repeats
    assert proc.returncode == 2 and err.strip().splitlines()[-1].startswith("error: a search worker process died")

    df = _search(tmp_path, params, "random_layerwise")  # the rerun resumes; the dead workers' slots are re-enqueued
    assert len(df) == n_trials * repeats and (df["state"] == "COMPLETE").all()
    assert sorted(df.groupby("repeat")["trial"].apply(list).sum()) == sorted(list(range(n_trials)) * repeats)
    storage = optuna.storages.RDBStorage(postgres_url)
    summaries = [s for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith("random_layerwise-")]
    assert len(summaries) == repeats
    for summary in summaries:
        trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(complete) == n_trials  # exactly n_trials: none lost, none run twice
        assert sorted(t.user_attrs["slot"] for t in complete) == list(range(n_trials))
        assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        assert retried == {t.number for t in trials if t.state == optuna.trial.TrialState.FAIL}
        got = df[df["repeat"] == int(summary.study_name.rsplit("-r", 1)[1])].sort_values("number")
        assert got["number"].tolist() == sorted(t.number for t in complete)


def test_the_password_comes_from_pgpassword_or_a_pgpass_file(tmp_path, monkeypatch):
    """The documented setup: a URL without password (params.yaml) and the secret where libpq reads it."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.environ.get("HYPERLAB_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    import sqlalchemy

    from hyperlab.selection.study.storage import open_storage

    user = next(u for u in ("postgres", "nobody") if _has_user(u)) if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="hyperlab-pw-", dir="/tmp"))
    root.chmod(0o755)
    data, sock, pwfile = root / "data", root / "sock", root / "pw"
    pwfile.write_text("s3cret\n")
    pwfile.chmod(0o644)  # read by initdb as the server user
    for folder in (data, sock):
        folder.mkdir()
        if user:
            os.chown(folder, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    port = 55000 + os.getpid() % 1000
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "hyperlab", "-A", "scram-sha-256", f"--pwfile={pwfile}"]
    subprocess.run(_as_server_user([*initdb, "--no-sync"], user), check=True, capture_output=True, timeout=120)
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off"
    start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(sock / "log"), "-w", "start"]
    subprocess.run(_as_server_user(start, user), check=True, capture_output=True, timeout=120)
    url = f"postgresql+psycopg2://hyperlab@/postgres?host={sock}&port={port}"
    try:
        for name in ("PGPASSWORD", "PGPASSFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass of the user running the tests
        with pytest.raises(sqlalchemy.exc.OperationalError, match="no password supplied"):
            optuna.create_study(storage=open_storage(url), study_name="none")
        monkeypatch.setenv("PGPASSWORD", "s3cret")
        optuna.create_study(storage=open_storage(url), study_name="env")
        monkeypatch.delenv("PGPASSWORD")
        (tmp_path / ".pgpass").write_text("*:*:*:hyperlab:s3cret\n")
        (tmp_path / ".pgpass").chmod(0o600)  # libpq ignores a file others can read
        optuna.create_study(storage=open_storage(url), study_name="file")
        assert {s.study_name for s in optuna.get_all_study_summaries(open_storage(url))} == {"env", "file"}
    finally:
        stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_server_user(stop, user), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
