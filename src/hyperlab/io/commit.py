"""One stage's outputs, staged while it runs and committed as a unit when it returns.

1. every destination folder is checked to be writable, and where it lies on
   another file system than the staging folder (the move is then a copy), to
   have room for everything copied there (a read-only folder or a full disk
   stops here, with every previous output intact);
2. the manifest is written into the staging folder (:mod:`hyperlab.io.manifest`)
   -- the commit point;
3. the staged files are moved onto their destinations (``os.replace``), and
   files left in a replaced folder (:func:`hyperlab.io.write_tables`) are removed.

Before step 2, and again before the first move, every staged file must exist:
one that vanished (removed by another process) stops the commit with one line
and nothing moved, rather than committing the rest without it. Only a commit
resumed after a kill (:mod:`hyperlab.io.recovery`) skips missing staged
files: those are the ones its killed run had already moved.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from hyperlab.errors import OutputError
from hyperlab.io import manifest
from hyperlab.io.atomic import one_line, replace_atomically
from hyperlab.io.manifest import STAGING


def _commit_point(label: str) -> None:
    """Called at every step of a commit (``before-manifest``, ``after-manifest``, ``after-move-<i>``,
    ``after-last-move``); does nothing. Tests replace it to kill a commit at exactly that point."""


def _device(path: Path) -> int:
    return os.stat(path).st_dev


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class StagedFileMissing(OutputError):
    """A staged file of this commit is gone; raised before anything is moved."""


def missing_staged(staging: Path, record: dict) -> list[str]:
    """The destinations (relative to the root) of the manifest ``record`` whose staged file is missing."""
    return [dest for staged, dest in record["files"] if not (staging / staged).is_file()]


def _check_staged(staging: Path, record: dict) -> None:
    missing = missing_staged(staging, record)
    if missing:
        raise StagedFileMissing(
            f"{staging}: the staged file of {missing[0]} is missing ({len(missing)} of {len(record['files'])} "
            f"outputs; removed by another process?); nothing was moved, every previous output is left unchanged"
        )


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
                    f"{folder}: cannot write ({one_line(err)}); every previous output is left unchanged"
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
                f"{self.dir}: cannot check free space ({one_line(err)}); every previous output is left unchanged"
            ) from None

    def commit(self) -> None:
        """Check, write the manifest (the commit point), then move every staged file into place."""
        if not self.files and not self.replaced:
            self.discard()
            return
        record = manifest.record(self.dir, self.root, self.files, self.replaced)
        try:
            _check_staged(self.dir, record)
            self._check_writable()
        except OutputError:
            self.discard()
            raise
        _commit_point("before-manifest")
        try:
            manifest.write(self.dir, record)
        except OSError as err:
            self.discard()
            raise OutputError(
                f"{self.dir}: cannot write the commit manifest ({one_line(err)}); "
                f"every previous output is left unchanged"
            ) from None
        _commit_point("after-manifest")
        try:
            apply(self.dir, self.root, record)
        except StagedFileMissing:
            self.discard()  # nothing moved: the manifest goes too, so no later run rolls this forward
            raise
        except OSError as err:
            raise OutputError(
                f"outputs only partly moved into place ({one_line(err)}); "
                f"the next run of this stage completes them from {self.dir}"
            ) from None

    def discard(self) -> None:
        remove_staging(self.dir, self.root)


def remove_staging(staging: Path, root: Path) -> None:
    """Remove one stage's staging folder, and the folder of all of them once it is empty."""
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / STAGING).rmdir()


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, or copy-then-replace when ``dst`` lies on another file system."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        with replace_atomically(dst) as tmp:
            shutil.copyfile(src, tmp)
        src.unlink()


def apply(staging: Path, root: Path, record: dict, resume: bool = False) -> None:
    """Move the staged files of the manifest ``record`` into place, then drop the staging folder.

    A fresh commit (``resume=False``) first checks that every staged file is
    there (:class:`StagedFileMissing` otherwise, nothing moved). ``resume=True``
    finishes a commit killed part-way: a missing staged file is one already
    moved, and is skipped, so redoing a commit any number of times is safe.
    """
    if not resume:
        _check_staged(staging, record)
    dests = set()
    for i, (staged, dest) in enumerate(record["files"]):
        src, dst = staging / staged, root / dest
        dests.add(os.path.normpath(dst))
        if not resume or src.exists():
            _move(src, dst)
            _commit_point(f"after-move-{i}")
    _commit_point("after-last-move")
    for folder, pattern in record["replaced"]:
        folder = root / folder
        for stale in sorted(folder.rglob(pattern)) if folder.is_dir() else ():
            if stale.is_file() and os.path.normpath(stale) not in dests:
                stale.unlink()
    remove_staging(staging, root)
