"""No stage reads an output that another stage's unfinished commit may have half replaced."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from hyperlab.errors import InputError
from hyperlab.io.manifest import MANIFEST, STAGING, unfinished_commits


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
