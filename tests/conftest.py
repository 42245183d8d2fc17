"""Shared test helpers: run a stage script end to end in a scratch folder.

A stage normally runs in this test process (``runpy``, with the working
directory, ``sys.argv``, stdout, stderr and logging redirected as a fresh
interpreter would see them): JAX then compiles each program once per test
worker instead of once per stage run. ``fresh_process=True`` starts a real
interpreter, for the few tests whose point is the process itself (exit
codes, kills, what gets imported).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import runpy
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Before anything imports JAX: every test process and the stage processes it starts share one
# persistent compilation cache (hyperlab.compile_cache), and tests run on the CPU. On tiny params
# most of a test's time is XLA compiling, not running, so the tests compile for speed of compiling:
# - JAX's own switch for that case skips LLVM's expensive passes (about 3x less compile time);
# - XLA:CPU's element-wise emitters instead of its MLIR fusion emitters (about half the compile time
#   again), and each program's code generated in one piece rather than split across threads (the
#   tests' programs are small and the workers already use every core); docs/pipeline.md has the numbers.
# All of it keeps the programs, equal up to float rounding, and no test compares against a committed
# number. `JAX_DISABLE_MOST_OPTIMIZATIONS=0 XLA_FLAGS= make test` runs the suite as the stages run.
# pytest-xdist runs one worker per core: each worker computes on one thread (XLA's Eigen pool,
# BLAS), as the tiny test problems gain nothing from more and the workers would only contend.
# XLA reads XLA_FLAGS up to the first word that does not start with "--" and ignores the rest
# silently, so each entry here is a flag (tests/test_backend.py checks it).
XLA_TEST_FLAGS = ["--xla_cpu_use_fusion_emitters=false", "--xla_cpu_parallel_codegen_split_count=1"]
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    XLA_TEST_FLAGS.append("--xla_cpu_multi_thread_eigen=false")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", " ".join(XLA_TEST_FLAGS))
# The tests keep their own cache folder, with every program in it and no size cap: the two workers
# and the stage processes they start compile many of the same small programs, and reading one back
# is cheaper than compiling it again (a cold run of the JAX-heavy files: 256 against 272 CPU-s).
# Without a cap JAX takes no file lock and scans no folder on a write (with one, every write lists the
# folder: quadratic in its size); a read that meets a half-written entry only recompiles. The folder
# is emptied when a run starts with more than TEST_CACHE_MAX_BYTES in it.
TEST_CACHE = REPO / ".cache" / "jax-tests"
TEST_CACHE_MAX_BYTES = 1 << 30
os.environ.setdefault("HYPERLAB_JAX_CACHE", str(TEST_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", "-1")
from hyperlab import backend, compile_cache  # noqa: E402

backend.configure()  # the stages' precision policy: tests compute as the stages do
if not os.environ.get("PYTEST_XDIST_WORKER") and TEST_CACHE.is_dir():  # before any worker starts
    if sum(f.stat().st_size for f in TEST_CACHE.iterdir() if f.is_file()) > TEST_CACHE_MAX_BYTES:
        shutil.rmtree(TEST_CACHE, ignore_errors=True)
compile_cache.enable()


def pytest_unconfigure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(_exit_at_once)  # registered last, so it runs first: before JAX's own exit handler


def _exit_at_once() -> None:
    """End an xdist worker whose results the controller already has, without tearing the interpreter down.

    It runs once the worker's gateway has been told to stop: every report has been sent. Freeing what JAX
    and XLA hold (compiled programs, the CPU client) and every module took a worker 1-4 s after its last
    test, and the controller waits for both workers to exit. The persistent compilation cache is written
    when a program is compiled, so nothing is lost.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="skip the tests marked slow: `make check`, the edit-run loop")


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _has_gpu():
        skip = pytest.mark.skip(reason="no JAX GPU backend here (JAX_PLATFORMS=cuda with `make setup-gpu`)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)
    if config.getoption("--quick"):
        slow = [item.get_closest_marker("slow") is not None for item in items]
        config.hook.pytest_deselected(items=[item for item, s in zip(items, slow) if s])
        items[:] = [item for item, s in zip(items, slow) if not s]
    _slow_modules_first(items)


def _slow_modules_first(items: list) -> None:
    """Put the modules that hold a ``slow`` test first, in collection order otherwise.

    pytest-xdist (``--dist loadscope --no-loadscope-reorder``, the Makefile) hands a whole module (a test
    class) to the next free worker in this order, so module fixtures are set up once: the long stage runs
    start while the other worker still has short modules to take, instead of one of them starting last
    and the other worker waiting for it. (With work stealing by test, a worker ended up to 14 s after
    the other, in a long test that happened to lie at the end of its half.)
    """

    def module(item) -> str:
        return getattr(getattr(item, "module", None), "__name__", "")

    slow_modules = {module(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: module(item) not in slow_modules)


def _has_gpu() -> bool:
    if "cpu" == os.environ.get("JAX_PLATFORMS"):
        return False
    import jax

    return jax.default_backend() == "gpu"


def stage_argv(stage: str, *args: str) -> list[str]:
    return [sys.executable, str(REPO / "stages" / f"{stage}.py"), *args]


def run_stage(
    stage: str,
    workdir: Path,
    params: dict | None = None,
    *args: str,
    check: bool = True,
    timeout: float = 600,
    fresh_process: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``stages/<stage>.py [args]`` in ``workdir``, after writing ``params`` as its params.yaml.

    Stage scripts use paths relative to the working directory (params.yaml,
    data/, metrics/, plots/), so a scratch folder isolates a test run from the
    repository's own results. ``params=None`` keeps the params.yaml already there.
    Readers of ``data/mnist.npz`` check its split sizes against ``data``: where
    ``params`` has no ``data`` section and the folder holds the small file of
    :func:`mnist_npz`, its sizes are written.
    """
    if params is not None:
        if "data" not in params and (workdir / "data" / "mnist.npz").is_file():
            params = {**params, "data": MNIST_DATA}
        (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    argv = stage_argv(stage, *args)
    if fresh_process:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    else:
        proc = run_script_in_process(argv[1:], workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"stage {stage} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def run_script_in_process(argv: list[str], workdir: Path) -> subprocess.CompletedProcess:
    """``python argv...`` in ``workdir``, in this process: its exit code, stdout and stderr (with its log lines)."""
    import jax

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%H:%M:%S"))
    root, quiet = logging.getLogger(), logging.getLogger("jax")
    levels = root.level, quiet.level
    x64 = jax.config.jax_enable_x64  # a stage may switch it on (drmad); the next test must not inherit it
    old_cwd, old_argv = os.getcwd(), sys.argv
    code = 0
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet.setLevel(logging.WARNING)
    try:
        os.chdir(workdir)
        sys.argv = [str(a) for a in argv]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
                if not isinstance(exit_.code, (int, type(None))):
                    print(exit_.code, file=sys.stderr)
            except Exception:  # what the interpreter would print before exiting 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        for stray in [handler, *(h for h in root.handlers if getattr(h, "stream", None) is err)]:
            root.removeHandler(stray)  # also a basicConfig handler bound to the captured stream
        root.setLevel(levels[0])
        quiet.setLevel(levels[1])
        jax.config.update("jax_enable_x64", x64)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


#: The data section :func:`mnist_npz` is made with.
MNIST_DATA = {"source": "bundled", "n_train": 600, "n_val": 200, "n_test": 200}


@pytest.fixture(scope="session")
def mnist_npz(tmp_path_factory) -> Path:
    """A small ``data/mnist.npz`` made by the real ``data`` stage from the bundled digits."""
    workdir = tmp_path_factory.mktemp("mnist")
    run_stage("data", workdir, {"seed": 0, "data": MNIST_DATA})
    return workdir / "data" / "mnist.npz"
