"""The commit manifest: which staged file goes where, and which process commits them.

Written into the stage's staging folder, ``.hyperlab-staging/<stage>/MANIFEST.json``,
as the commit point (:mod:`hyperlab.io.commit`); read back by the next start of
the same stage, which finishes the moves (:mod:`hyperlab.io.recovery`), and by
every other stage, which refuses to read a half-committed output
(:mod:`hyperlab.io.inputs`).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import NamedTuple

#: Hidden folder (relative to the stage's working directory) holding one staging folder per stage.
STAGING = Path(".hyperlab-staging")
MANIFEST = "MANIFEST.json"


def record(staging: Path, root: Path, files: dict[Path, Path], replaced: dict[Path, str]) -> dict:
    """The manifest of a commit: ``files`` (destination -> staged file), ``replaced`` (folder -> glob),
    paths relative to ``staging`` and ``root``, and the committing process."""
    return {
        "files": [[os.path.relpath(s, staging), os.path.relpath(d, root)] for d, s in files.items()],
        "replaced": [[os.path.relpath(f, root), p] for f, p in replaced.items()],
        # who commits: another stage starting meanwhile tells a live commit from a killed one
        "pid": os.getpid(),
        "started": process_start(os.getpid()),
        "host": socket.gethostname(),
    }


def write(staging: Path, manifest: dict) -> None:
    """Write ``manifest`` into ``staging`` at once (a partial file never has the manifest's name)."""
    tmp = staging / (MANIFEST + ".part")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, staging / MANIFEST)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


class Unfinished(NamedTuple):
    """A commit whose manifest is written but whose moves are not all done (killed, or still running)."""

    stage: str
    dests: tuple[str, ...]  # destinations, relative to the root (files, and replaced folders)
    pid: int | None
    live: bool  # its process still runs on this machine: it is committing right now


def process_start(pid: int) -> str | None:
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
    now = process_start(pid)
    return started is None or now is None or now == started


def read_unfinished(manifest: Path) -> Unfinished:
    """The commit of ``manifest``; one that cannot be read counts as touching every path (the safe side)."""
    stage = manifest.parent.name
    try:
        raw = load(manifest)
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
    return [read_unfinished(m) for m in manifests]
