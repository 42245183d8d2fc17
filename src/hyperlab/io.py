"""Atomic writes, and a stage's outputs committed as one unit.

A stage writes several files (plot data, metrics, a table); a reader -- DVC,
the figures stage, a person -- must never see some of them from this run and
some from the last one. So every stage runs inside :func:`stage_outputs`
(``hyperlab.cli.run_stage`` opens it): while it is open, every writer of this
module writes into one hidden staging folder, ``.hyperlab-staging/<stage>/``
beside ``data/``, ``metrics/`` and ``plots/`` (never inside them, so neither
``dvc metrics show`` nor a plot-data folder ever lists a temporary file).
Only when the stage returned and every write succeeded is the work committed:

1. every destination folder is checked to be writable, and where it lies on
   another file system than the staging folder (the move is then a copy), to
   have room for everything copied there (a read-only folder or a full disk
   stops here, with every previous output intact);
2. a manifest is written into the staging folder -- the commit point;
3. the staged files are moved onto their destinations (``os.replace``), and
   files left in a replaced folder (:func:`write_tables`) are removed.

A run killed before step 2 leaves only the staging folder, which the next
start of the same stage deletes; a run killed during step 3 is rolled
forward by the next start, which finishes the moves from the manifest. Either
way the outputs are all old or all new -- once that stage runs again. Until
then, no other stage reads them: every stage starts with
:func:`check_inputs_committed`, which refuses (one line naming the file and the
stage to rerun) when an unfinished commit of another stage wrote any path it
reads. It does not roll that commit forward itself: the other stage may be
committing right now (the manifest records its process), and finishing its
moves from two processes at once would race. Hidden ``.name.*.tmp*`` files of the
former per-file scheme are swept from ``data/``, ``metrics/`` and ``plots/``
at every start.

Outside a stage (library use, tests) each writer is atomic on its own: a
temporary file beside the destination, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from hyperlab.errors import InputError, OutputError

log = logging.getLogger(__name__)

#: Hidden folder (relative to the stage's working directory) holding one staging folder per stage.
STAGING = Path(".hyperlab-staging")
MANIFEST = "MANIFEST.json"
#: Folders swept for temporary files of a killed run of the former per-file scheme.
OUTPUT_ROOTS = ("data", "metrics", "plots")
_TEMP_NAME = re.compile(r"^\..+\.tmp[^/]*$")


def _one_line(err: BaseException) -> str:
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return " ".join(str(text).split())


def _commit_point(label: str) -> None:
    """Called at every step of a commit (``before-manifest``, ``after-manifest``, ``after-move-<i>``,
    ``after-last-move``); does nothing. Tests replace it to kill a commit at exactly that point."""


def _device(path: Path) -> int:
    return os.stat(path).st_dev


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


# --------------------------------------------------------------------------- one stage's outputs


class StageOutputs:
    """The outputs one stage run has written so far, staged until :meth:`commit`."""

    def __init__(self, name: str, root: str | Path = "."):
        self.root = Path(root)
        self.dir = self.root / STAGING / name
        self.files: dict[Path, Path] = {}  # destination -> staged file
        self.replaced: dict[Path, str] = {}  # folder -> glob of files owned by the stage

    def reserve(self, dest: str | Path) -> Path:
        """The staged path to write instead of ``dest`` (a later write to the same ``dest`` wins)."""
        dest = Path(dest)
        if dest in self.files:
            return self.files[dest]
        (self.dir / "files").mkdir(parents=True, exist_ok=True)
        staged = self.dir / "files" / f"{len(self.files):04d}-{dest.name}"
        self.files[dest] = staged
        return staged

    def replace_folder(self, folder: str | Path, pattern: str = "*.csv") -> None:
        """At commit, files of ``folder`` matching ``pattern`` that this run did not write are removed."""
        self.replaced[Path(folder)] = pattern

    def _check_room(self) -> None:
        """Destinations on another file system than the staging folder get copies: each must have room."""
        staging = _device(self.dir)
        need: dict[int, tuple[Path, int]] = {}
        for dest, staged in self.files.items():
            device = _device(dest.parent)
            if device != staging:
                folder, size = need.get(device, (dest.parent, 0))
                need[device] = (folder, size + staged.stat().st_size)
        for folder, size in need.values():
            free = _free_bytes(folder)
            if size > free:
                raise OutputError(
                    f"{folder}: {size} bytes of outputs to copy there but only {free} free on its "
                    f"file system; every previous output is left unchanged"
                )

    def _check_writable(self) -> None:
        for folder in sorted({d.parent for d in self.files} | set(self.replaced)):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as err:
                raise OutputError(
                    f"{folder}: cannot write ({_one_line(err)}); every previous output is left unchanged"
                ) from None
        for dest in self.files:
            if dest.is_dir():
                raise OutputError(f"{dest}: is a folder, expected a file; every previous output is left unchanged")
        try:
            self._check_room()
        except OSError as err:
            if isinstance(err, OutputError):
                raise
            raise OutputError(
                f"{self.dir}: cannot check free space ({_one_line(err)}); every previous output is left unchanged"
            ) from None

    def commit(self) -> None:
        """Check, write the manifest (the commit point), then move every staged file into place."""
        if not self.files and not self.replaced:
            self.discard()
            return
        try:
            self._check_writable()
        except OutputError:
            self.discard()
            raise
        manifest = {
            "files": [[os.path.relpath(s, self.dir), os.path.relpath(d, self.root)] for d, s in self.files.items()],
            "replaced": [[os.path.relpath(f, self.root), p] for f, p in self.replaced.items()],
            # who commits: another stage starting meanwhile tells a live commit from a killed one
            "pid": os.getpid(),
            "started": _process_start(os.getpid()),
            "host": socket.gethostname(),
        }
        _commit_point("before-manifest")
        try:
            tmp = self.dir / (MANIFEST + ".part")
            tmp.write_text(json.dumps(manifest, indent=1))
            os.replace(tmp, self.dir / MANIFEST)
        except OSError as err:
            self.discard()
            raise OutputError(
                f"{self.dir}: cannot write the commit manifest ({_one_line(err)}); "
                f"every previous output is left unchanged"
            ) from None
        _commit_point("after-manifest")
        try:
            _apply(self.dir, self.root, manifest)
        except OSError as err:
            raise OutputError(
                f"outputs only partly moved into place ({_one_line(err)}); "
                f"the next run of this stage completes them from {self.dir}"
            ) from None

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        _remove_if_empty(self.root / STAGING)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, or copy-then-replace when ``dst`` lies on another file system."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        with atomic_path(dst, staged=False) as tmp:
            shutil.copyfile(src, tmp)
        src.unlink()


def _apply(staging: Path, root: Path, manifest: dict) -> None:
    """Move the staged files of ``manifest`` into place; idempotent, so a killed commit can be redone."""
    dests = set()
    for i, (staged, dest) in enumerate(manifest["files"]):
        src, dst = staging / staged, root / dest
        dests.add(os.path.normpath(dst))
        if src.exists():
            _move(src, dst)
            _commit_point(f"after-move-{i}")
    _commit_point("after-last-move")
    for folder, pattern in manifest["replaced"]:
        folder = root / folder
        for stale in sorted(folder.rglob(pattern)) if folder.is_dir() else ():
            if stale.is_file() and os.path.normpath(stale) not in dests:
                stale.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    _remove_if_empty(root / STAGING)


def recover(name: str, root: str | Path = ".") -> None:
    """Clean up after a killed run of stage ``name``: finish a committed one, drop an uncommitted one.

    Also removes hidden ``.name.*.tmp*`` files (left by a killed writer of the
    former per-file scheme) from the output folders.
    """
    root = Path(root)
    staging = root / STAGING / name
    manifest = staging / MANIFEST
    if manifest.is_file():
        commit = _read_unfinished(manifest)
        if commit.live:
            raise OutputError(
                f"stage {name} is committing its outputs right now (pid {commit.pid}); "
                f"run it again when that run has finished"
            )
        log.warning("%s: completing the outputs of an interrupted commit", staging)
        _apply(staging, root, json.loads(manifest.read_text()))
    elif staging.exists():
        log.info("%s: removing the staged files of an interrupted run", staging)
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(root / STAGING)
    for top in OUTPUT_ROOTS:
        folder = root / top
        for path in folder.rglob(".*") if folder.is_dir() else ():
            if path.is_file() and _TEMP_NAME.match(path.name):
                log.info("removing %s, a temporary file of an interrupted run", path)
                path.unlink()


# --------------------------------------------------------------------------- half-committed inputs


class Unfinished(NamedTuple):
    """A commit whose manifest is written but whose moves are not all done (killed, or still running)."""

    stage: str
    dests: tuple[str, ...]  # destinations, relative to the root (files, and replaced folders)
    pid: int | None
    live: bool  # its process still runs on this machine: it is committing right now


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux ``/proc``); None where unknown.

    With the pid it names one process for good: a pid is reused, a (pid, start) pair is not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the parenthesised command name


def _alive(pid: int, started: str | None) -> bool:
    """Process ``pid`` runs, and is the one that started at ``started`` (when both are known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    now = _process_start(pid)
    return started is None or now is None or now == started


def _read_unfinished(manifest: Path) -> Unfinished:
    """The commit of ``manifest``; one that cannot be read counts as touching every path (the safe side)."""
    stage = manifest.parent.name
    try:
        raw = json.loads(manifest.read_text())
        dests = tuple(os.path.normpath(d) for _, d in raw["files"]) + tuple(
            os.path.normpath(f) for f, _ in raw["replaced"]
        )
        pid = raw.get("pid")
    except (OSError, ValueError, KeyError, TypeError):
        return Unfinished(stage, (".",), None, False)
    live = (
        isinstance(pid, int)
        and pid != os.getpid()
        and raw.get("host") == socket.gethostname()
        and _alive(pid, raw.get("started"))
    )
    return Unfinished(stage, dests, pid, live)


def unfinished_commits(root: str | Path = ".") -> list[Unfinished]:
    """Every commit under ``root``'s staging folder that wrote its manifest but did not finish its moves."""
    staging = Path(root) / STAGING
    manifests = sorted(staging.glob(f"*/{MANIFEST}")) if staging.is_dir() else []
    return [_read_unfinished(m) for m in manifests]


def _overlaps(dest: str, read: str) -> bool:
    """``dest`` is ``read``, lies inside it, or contains it (a replaced folder holding a file read)."""
    if dest == "." or read == ".":
        return True
    return dest == read or dest.startswith(read + os.sep) or read.startswith(dest + os.sep)


def check_inputs_committed(stage: str, reads: Iterable[str] | None, root: str | Path = ".") -> None:
    """Refuse to start stage ``stage`` while a path it reads is half-committed by another stage.

    ``reads``: the paths the stage reads (its DVC dependencies), relative to
    ``root``; None when unknown, and then any unfinished commit of another
    stage refuses. The line names the file and the stage to rerun; a commit
    still running is told apart (its process is alive), since rerunning its
    stage would then be wrong advice.
    """
    reads = None if reads is None else [os.path.normpath(r) for r in reads]
    for commit in unfinished_commits(root):
        if commit.stage == stage:
            continue  # our own: recover() completes it
        hit = next((d for d in commit.dests if reads is None or any(_overlaps(d, r) for r in reads)), None)
        if hit is None:
            continue
        if hit == ".":
            raise InputError(
                f"{STAGING / commit.stage / MANIFEST}: unreadable manifest of an unfinished commit of "
                f"stage {commit.stage}, so any output may be half-committed; rerun it: "
                f"dvc repro {commit.stage}"
            )
        if commit.live:
            raise InputError(
                f"{hit}: is being committed by stage {commit.stage} right now (pid {commit.pid}); "
                f"run this stage again when it has finished"
            )
        raise InputError(
            f"{hit}: is half-committed by stage {commit.stage} (killed during its commit); "
            f"rerun it: dvc repro {commit.stage}"
        )


_ACTIVE: contextvars.ContextVar[StageOutputs | None] = contextvars.ContextVar("hyperlab_outputs", default=None)


@contextlib.contextmanager
def stage_outputs(name: str, root: str | Path = ".") -> Iterator[StageOutputs]:
    """Every write of this module inside the block is staged, and committed together at its end.

    An exception (or a kill) inside the block leaves every previous output as
    it was. The leftovers of an earlier killed run of stage ``name`` are
    cleaned first (:func:`recover`).
    """
    recover(name, root)
    outputs = StageOutputs(name, root)
    token: contextvars.Token[StageOutputs | None] | None = _ACTIVE.set(outputs)
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    else:
        assert token is not None  # set above; cleared only below
        _ACTIVE.reset(token)
        token = None
        outputs.commit()
    finally:
        if token is not None:
            _ACTIVE.reset(token)


@contextlib.contextmanager
def atomic_path(path: str | Path, staged: bool = True) -> Iterator[Path]:
    """Yield the path to write instead of ``path``.

    Inside :func:`stage_outputs` (and ``staged``), a file in the stage's staging
    folder, moved into place when the stage commits. Otherwise a temporary file
    beside ``path``, moved onto it when the block ends without an exception.
    A failed write raises :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    outputs = _ACTIVE.get() if staged else None
    tmp: str | Path  # mkstemp's name, then the Path of it
    try:
        if outputs is not None:
            yield outputs.reserve(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({_one_line(err)})") from None
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file 0600; give the result the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({_one_line(err)})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- writers


def _to_builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.generic) or (hasattr(value, "shape") and getattr(value, "shape", None) == ()):
        return _to_builtin(np.asarray(value).item())
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return _to_builtin(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/inf; DVC's metrics parser rejects them
    return value


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` (numpy/JAX scalars and arrays allowed) as indented JSON."""
    text = json.dumps(_to_builtin(obj), indent=2, sort_keys=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_tables(folder: str | Path, tables: dict) -> None:
    """Write each DataFrame of ``tables`` (relative path -> frame) under ``folder``, replacing it.

    ``folder`` is one stage's own plot-data folder: any other CSV in it is a
    leftover of a run with other params (an order, K or variant since dropped)
    and is removed when the outputs commit, so plots never mix runs. Outside a
    stage the folder is replaced as a unit of its own.
    """
    folder = Path(folder)
    outputs = _ACTIVE.get()
    if outputs is None:
        with stage_outputs(f"tables-{folder.name}", root=folder.parent):
            write_tables(folder, tables)
        return
    outputs.replace_folder(folder, "*.csv")
    for rel, frame in tables.items():
        write_csv(folder / rel, frame)


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays to a compressed ``.npz``.

    Its bytes depend only on the arrays (numpy stamps members with a fixed
    zip date; a test guards this), so rewriting the same data does not make
    DVC rerun the stages downstream.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            # cast: numpy's stub types **kwds as allow_pickle's bool
            np.savez_compressed(fh, **cast(dict[str, Any], arrays))


def write_bytes(path: str | Path, data: bytes, staged: bool = True) -> None:
    """Write ``data``; ``staged=False`` writes at once even inside a stage (a download cache, not an output)."""
    with atomic_path(path, staged=staged) as tmp:
        tmp.write_bytes(data)


def save_figure(path: str | Path, fig, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip("."), bbox_inches="tight")
