"""How long the two feedback loops take: the test suite, and a full ``dvc repro -f`` per stage.

Each measurement prints one JSON line, so the next change can be compared
side by side with this one (``bench: feedback``). The machine's load average
is printed with every line: these machines are shared, so compare runs made
under similar load, and compare ratios.

    python bench/feedback.py tests            # `make test`'s pytest, cold and then warm compile cache
    python bench/feedback.py check            # `make check`'s pytest subset
    python bench/feedback.py repro [--runs 2] # `dvc repro -f` in a scratch clone, seconds per stage
    python bench/feedback.py exp [--runs 2]   # `dvc exp run -S order=<n>` in a scratch clone

``tests`` and ``check`` run in this checkout (tests write only to temporary
folders). ``repro`` clones the committed HEAD into a scratch folder, so the
repository's outputs are never touched; with ``--runs 2`` the second run
finds the JAX compilation cache the first one filled (``.cache/jax`` of the
clone), which is what a contributor's second ``dvc repro`` sees. ``exp``
first brings the scratch clone up to date as a new user would (``dvc repro``:
only the data split is rebuilt), then times ``dvc exp run -S order=<n>`` with
a new order each run (the bilevel stage and its figures rerun); the first run
fills the compilation cache, the next ones find it warm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)")


def emit(**row) -> None:
    print(
        json.dumps({"bench": "feedback", "load_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), **row}),
        flush=True,
    )


def pytest_args(target: str) -> list[str]:
    """The pytest command of ``make <target>`` (the Makefile's PYTEST_ARGS / CHECK_ARGS, one truth)."""
    text = (REPO / "Makefile").read_text()
    name = {"tests": "PYTEST_ARGS", "check": "CHECK_ARGS"}[target]
    match = re.search(rf"^{name}\s*:?=\s*(.*)$", text, re.M)
    if match is None:
        raise SystemExit(f"error: Makefile: no {name} line")
    return [sys.executable, "-m", "pytest", *match.group(1).split()]


def time_pytest(target: str, cache: str, state: str) -> None:
    """Run the suite once with the given compile cache folder; emit seconds and the outcome counts."""
    env = {**os.environ, "HYPERLAB_JAX_CACHE": cache}
    start = time.perf_counter()
    proc = subprocess.run(pytest_args(target), cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {kind.rstrip("s"): int(n) for n, kind in SUMMARY.findall(tail)}
    emit(
        what=f"make {'test' if target == 'tests' else target}",
        compile_cache=state,
        seconds=round(seconds, 1),
        rc=proc.returncode,
        **counts,
    )


def tests(target: str) -> None:
    with tempfile.TemporaryDirectory(prefix="hyperlab-jax-cache-") as cache:
        time_pytest(target, cache, "cold")  # a fresh clone's first run: an empty cache
        time_pytest(target, cache, "warm")  # the next run: the cache the first one filled


def scratch_clone(scratch: str) -> tuple[Path, dict]:
    """A clone of HEAD in ``scratch`` and the environment its stages run in (this venv, its own cache)."""
    clone = Path(scratch) / "clone"
    subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(clone)], check=True)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HYPERLAB_JAX_CACHE": str(clone / ".cache" / "jax"),
    }
    return clone, env


def exp(runs: int) -> None:
    """``dvc exp run -S order=<n>`` in an up-to-date scratch clone, ``runs`` times with a new order each."""
    with tempfile.TemporaryDirectory(prefix="hyperlab-exp-") as scratch:
        clone, env = scratch_clone(scratch)
        subprocess.run([str(BIN / "dvc"), "repro", "--quiet"], cwd=clone, env=env, check=True)
        for run in range(1, runs + 1):
            order = 1 + run  # 2, 3, ...: never the committed order, so the bilevel stage reruns
            start = time.perf_counter()
            subprocess.run(
                [str(BIN / "dvc"), "exp", "run", "--quiet", "-S", f"order={order}"],
                cwd=clone,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            seconds = round(time.perf_counter() - start, 1)
            cache = "cold" if run == 1 else "warm"
            emit(what=f"dvc exp run -S order={order}", run=run, compile_cache=cache, seconds=seconds)


def repro(runs: int, keep: str | None = None) -> None:
    """``dvc repro -f`` in a scratch clone of HEAD, ``runs`` times; seconds per stage from DVC's own log.

    ``keep``: an empty folder to clone into and leave behind, to compare its outputs with the committed ones.
    """
    with contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory(prefix="hyperlab-repro-") as scratch:
        clone, env = scratch_clone(scratch)
        for run in range(1, runs + 1):
            stages, total = repro_once(clone, env)
            for stage, seconds in stages.items():
                emit(what="dvc repro -f", run=run, stage=stage, seconds=round(seconds, 1))
            emit(what="dvc repro -f", run=run, stage="(all)", seconds=round(total, 1))


def repro_once(clone: Path, env: dict) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "-f"],
        cwd=clone,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    stages: dict[str, float] = {}
    current, since = None, start
    assert proc.stdout is not None
    for line in proc.stdout:
        match = STAGE_LINE.match(line)
        if match:
            now = time.perf_counter()
            if current is not None:
                stages[current] = now - since
            current, since = match.group(1), now
    if proc.wait() != 0:
        raise SystemExit(f"error: dvc repro -f failed in {clone} (rc {proc.returncode})")
    end = time.perf_counter()
    if current is not None:
        stages[current] = end - since
    return stages, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "what",
        nargs="?",
        default="check",
        choices=["tests", "check", "repro", "exp"],
        help="default: check (what `make bench` runs)",
    )
    parser.add_argument("--runs", type=int, default=2, help="repro, exp: consecutive runs in one clone (default 2)")
    parser.add_argument("--keep", metavar="DIR", help="repro: clone into DIR and keep it (outputs to compare)")
    args = parser.parse_args()
    if shutil.which("dvc", path=str(BIN)) is None and args.what in ("repro", "exp"):
        raise SystemExit(f"error: no dvc next to {sys.executable}; run `make setup` first")
    if args.what == "repro":
        repro(args.runs, args.keep)
    elif args.what == "exp":
        exp(args.runs)
    else:
        tests(args.what)


if __name__ == "__main__":
    main()
