"""The next start of a stage after a killed run: finish a committed one, drop an uncommitted one.

Only under the stage's lock (:mod:`hyperlab.io.lock`): a staging folder whose
run still holds it is live, never the leftovers of a killed run.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hyperlab.errors import OutputError
from hyperlab.io import manifest
from hyperlab.io.commit import apply, remove_staging
from hyperlab.io.lock import stage_lock
from hyperlab.io.manifest import MANIFEST, STAGING

log = logging.getLogger(__name__)

#: Folders swept for the temporary files a killed atomic writer (:mod:`hyperlab.io.atomic`) leaves there.
OUTPUT_ROOTS = ("data", "metrics", "plots")
_TEMP_NAME = re.compile(r"^\..+\.tmp[^/]*$")


def recover(name: str, root: str | Path = ".") -> None:
    """Clean up after a killed run of stage ``name``: finish a committed one, drop an uncommitted one.

    Takes the stage's lock first, so a run in progress stops this with one
    line (:class:`OutputError` naming its pid) instead of losing its staged
    files. Also removes hidden ``.name.*.tmp*`` files (left by an atomic writer
    killed before its ``os.replace``, :mod:`hyperlab.io.atomic`) from the output folders.
    """
    with stage_lock(name, root):
        recover_locked(name, root)


def recover_locked(name: str, root: str | Path = ".") -> None:
    """:func:`recover`, for a caller already holding the lock of stage ``name`` (as ``stage_outputs`` does)."""
    root = Path(root)
    staging = root / STAGING / name
    manifest_file = staging / MANIFEST
    if manifest_file.is_file():
        commit = manifest.read_unfinished(manifest_file)
        if commit.live:
            raise OutputError(
                f"stage {name} is committing its outputs right now (pid {commit.pid}); "
                f"run it again when that run has finished"
            )
        log.warning("%s: completing the outputs of an interrupted commit", staging)
        apply(staging, root, manifest.load(manifest_file), resume=True)
    elif staging.exists():
        log.info("%s: removing the staged files of an interrupted run", staging)
        remove_staging(staging, root)
    for top in OUTPUT_ROOTS:
        folder = root / top
        for path in folder.rglob(".*") if folder.is_dir() else ():
            if path.is_file() and _TEMP_NAME.match(path.name):
                log.info("removing %s, a temporary file of an interrupted run", path)
                path.unlink()
