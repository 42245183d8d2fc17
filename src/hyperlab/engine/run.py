"""Running a stage's units: in this process (the default), or through a shared Optuna storage.

:func:`map_units` is what a stage calls. Without :data:`ENGINE_ENV` (nor
:data:`WORKERS_ENV` above 1) it computes every unit here, in order, and
nothing else happens. With it, the stage's process is the *coordinator*: it
creates (or reopens) the study of this stage, params, data and code
(:func:`study_name`), enqueues the units, starts ``HYPERLAB_LOCAL_WORKERS - 1``
local workers, works on units itself, and returns the results in unit order
once every unit has a COMPLETE trial, so the output does not depend on how
many workers ran or which did what. :func:`work` is a worker (``python
stages/<stage>.py --worker``): same params, data and checkout, so the same study.

Settings are environment variables, not params: a storage URL may carry a host
and user, and the results do not depend on them, so DVC's hashes must not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from hyperlab.engine import queue
from hyperlab.errors import InputError

log = logging.getLogger(__name__)

ENGINE_ENV = "HYPERLAB_ENGINE"  # a storage URL (postgresql://host/db) or a journal file path
WORKERS_ENV = "HYPERLAB_LOCAL_WORKERS"  # processes working on this machine, the coordinator included
HEARTBEAT_ENV = "HYPERLAB_ENGINE_HEARTBEAT_S"
GRACE_ENV = "HYPERLAB_ENGINE_GRACE_S"
STUDY_ENV = "HYPERLAB_ENGINE_STUDY"  # set by a coordinator for the workers it starts
POLL_S = 0.5  # how often an idle process looks at the queue
PACKAGE = Path(__file__).resolve().parents[1]  # src/hyperlab


@dataclass(frozen=True)
class Settings:
    target: str | None  # None: in this process only
    local_workers: int
    heartbeat_s: float
    grace_s: float


def _number(name: str, default: str, kind: type, low: float) -> Any:
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < low:
        raise InputError(f"environment variable {name}: got {raw!r}; must be a number >= {low}")
    return value


def settings() -> Settings:
    """The engine settings of the environment; a bad value is one line naming the variable."""
    beat = _number(HEARTBEAT_ENV, "2", float, 0.05)
    grace = _number(GRACE_ENV, "30", float, 0.1)
    if grace <= 2 * beat:
        raise InputError(f"environment variable {GRACE_ENV}: got {grace}; must exceed 2 x {HEARTBEAT_ENV} = {2 * beat}")
    return Settings(os.environ.get(ENGINE_ENV) or None, _number(WORKERS_ENV, "1", int, 1), beat, grace)


def shown(target: str) -> str:
    """``target`` fit for a log: a password in a URL (better kept in PGPASSWORD or ~/.pgpass) masked."""
    return re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", target)


def distributed() -> bool:
    """Is an engine configured (a storage, or local workers)? Else :func:`map_units` runs everything here."""
    s = settings()
    return s.target is not None or s.local_workers > 1


def _canonical(obj: Any) -> Any:
    """``obj`` as plain JSON, every array replaced by its dtype, shape and SHA-256."""
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {"dtype": str(arr.dtype), "shape": list(arr.shape), "sha256": hashlib.sha256(arr.data).hexdigest()}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    return obj


def source_digest() -> str:
    """SHA-256 of the library's source: a changed computation is a new study, never stale results."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def study_name(stage: str, parts: Any) -> str:
    """``<stage>-<digest>``: the digest of the stage's params and inputs (``parts``) and the library's code."""
    text = json.dumps([_canonical(parts), source_digest()], sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def drain(study: optuna.Study, keys: Sequence[Any], compute: Callable[[Any], Any], s: Settings) -> dict:
    """Work on the study's units until every one is COMPLETE; the COMPLETE trial of each unit."""
    watch, n, idle_logged = queue.Watch(s.grace_s), len(keys), False
    while True:
        trials = study.get_trials(deepcopy=False)
        watch.reap(study, trials)
        done, why = queue.progress(trials, n)
        if why is not None:
            raise queue.UnitFailed(f"{study.study_name}: {why}")
        if len(done) == n:
            return done
        trial = queue.claim(study)
        if trial is None:
            if not idle_logged:
                log.info("%s: %d/%d units complete; waiting for the others' workers", study.study_name, len(done), n)
                idle_logged = True
            time.sleep(POLL_S)
            continue
        unit = trial.user_attrs[queue.UNIT]
        if unit >= n or trial.user_attrs.get(queue.KEY) != json.dumps(keys[unit]):
            raise queue.UnitFailed(
                f"{study.study_name}: unit {unit} is {trial.user_attrs.get(queue.KEY)} in the storage but "
                f"{json.dumps(keys[unit]) if unit < n else 'absent'} here; run the same checkout and params"
            )
        t0 = time.perf_counter()
        if queue.run_claimed(study, trial, lambda i: compute(keys[i]), s.heartbeat_s):
            took = time.perf_counter() - t0
            log.info("unit %d/%d %s done in %.1f s by pid %d", unit + 1, n, json.dumps(keys[unit]), took, os.getpid())
        idle_logged = False


def _spawn(argv: Sequence[str], n: int, name: str, target: str) -> list[subprocess.Popen]:
    """``n`` local workers running ``argv``, told the study's name (they need not recompute it)."""
    path = os.pathsep.join(p for p in (str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, ENGINE_ENV: target, STUDY_ENV: name, WORKERS_ENV: "1", "PYTHONPATH": path}
    return [subprocess.Popen(list(argv), env=env) for _ in range(n)]


def _stop(procs: list[subprocess.Popen], failed: bool) -> None:
    """Wait for the workers (they leave once every unit is complete); end them at once if the run failed."""
    for p in procs:
        if failed:
            p.terminate()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.returncode and not failed:  # its units were redone by the others: the results stand
            log.warning("local worker pid %d exited with status %d", p.pid, p.returncode)


@contextlib.contextmanager
def _target(s: Settings) -> Iterator[str]:
    """The storage to use; local workers without one share a journal in a fresh temporary folder."""
    if s.target is not None:
        yield s.target
        return
    with tempfile.TemporaryDirectory(prefix="hyperlab-engine-") as tmp:
        yield str(Path(tmp) / "journal.log")


def map_units(
    stage: str,
    parts: Any,
    keys: Sequence[Any],
    compute: Callable[[Any], Any],
    worker_argv: Sequence[str],
    progress: Callable[..., Any] | None = None,
) -> list[Any]:
    """``[compute(k) for k in keys]``: here (no engine), or by every worker of the stage's study (module docstring).

    Through the engine a result travels as JSON, so ``compute`` returns JSON-able values.
    ``parts``: what the units' results depend on besides the code (params, seed, input arrays);
    ``progress`` (:mod:`hyperlab.progress`) draws a bar over the units computed here alone.
    """
    s = settings()
    if not distributed():
        return [compute(k) for k in (keys if progress is None else progress(keys, desc=f"{stage} units"))]
    name = study_name(stage, parts)
    with _target(s) as target:
        study = optuna.create_study(study_name=name, storage=queue.open_storage(target), load_if_exists=True)
        queue.enqueue_units(study, keys)
        log.info("%s: %d units in %s; %d local worker(s)", name, len(keys), shown(target), s.local_workers)
        procs = _spawn(worker_argv, s.local_workers - 1, name, target)
        failed = True
        try:
            done = drain(study, keys, compute, s)
            failed = False
        finally:
            _stop(procs, failed)
        return [queue.decode(done[i]) for i in range(len(keys))]


def work(stage: str, parts: Any, keys: Sequence[Any], compute: Callable[[Any], Any]) -> None:
    """A worker: join the stage's study (waiting for its coordinator to create it) and work until it is done."""
    s, target = _worker_settings()
    name = os.environ.get(STUDY_ENV) or study_name(stage, parts)
    storage, waiting = queue.open_storage(target), False
    while True:
        with contextlib.suppress(KeyError):  # not created yet
            study = optuna.load_study(study_name=name, storage=storage)
            if queue.N_UNITS in study.user_attrs:
                break
        if not waiting:
            log.info(
                "waiting for study %s in %s (made by the stage on the same params, data, code)", name, shown(target)
            )
            waiting = True
        time.sleep(POLL_S)
    drain(study, keys, compute, s)
    log.info("%s: every unit is complete", name)


def _worker_settings() -> tuple[Settings, str]:
    s = settings()
    if s.target is None:
        raise InputError(f"environment variable {ENGINE_ENV}: not set; a worker needs the coordinator's storage")
    return s, s.target


def run_worker(main: Callable[[], None], one_line: tuple[type[Exception], ...] = (InputError,)) -> None:
    """A worker script's entry point: the stage processes' JAX policy and cache, logging, and an error of
    ``one_line`` as one line and exit status 2 (``run_stage`` without the outputs: a worker writes none)."""
    from hyperlab import backend, compile_cache

    backend.configure()  # the same float32 matmuls as the coordinator's: the same numbers on any device

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("jax").setLevel(logging.WARNING)
    compile_cache.enable()
    caught: tuple[type[Exception], ...] = (*one_line, queue.UnitFailed)
    try:
        _worker_settings()  # before reading params and data: the line that matters first
        main()
    except caught as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
