"""Atomic writes, and a stage's outputs committed as one unit.

A stage writes several files (plot data, metrics, a table); a reader -- DVC,
the figures stage, a person -- must never see some of them from this run and
some from the last one. So every stage runs inside :func:`stage_outputs`
(``hyperlab.cli.run_stage`` opens it): while it is open, every writer of this
package writes into one hidden staging folder, ``.hyperlab-staging/<stage>/``
beside ``data/``, ``metrics/`` and ``plots/`` (never inside them, so neither
``dvc metrics show`` nor a plot-data folder ever lists a temporary file).
The whole run holds an OS lock on that folder (:mod:`.lock`), so a second
run of the same stage started meanwhile stops with one line naming the first
one's pid (or waits, with ``HYPERLAB_STAGE_WAIT_S``) instead of taking its
staged files for the leftovers of a killed run.
Only when the stage returned and every write succeeded is the work committed
(:mod:`.commit`): the destinations are checked, a manifest is written into
the staging folder -- the commit point (:mod:`.manifest`) -- and the staged
files are moved into place.

A run killed before the commit point leaves only the staging folder, which the
next start of the same stage deletes; a run killed while moving is rolled
forward by the next start, which finishes the moves from the manifest
(:mod:`.recovery`). Either way the outputs are all old or all new -- once that
stage runs again. Until then, no other stage reads them: every stage starts
with :func:`check_inputs_committed` (:mod:`.inputs`), which refuses (one line
naming the file and the stage to rerun) when an unfinished commit of another
stage wrote any path it reads. It does not roll that commit forward itself:
the other stage may be committing right now (the manifest records its
process), and finishing its moves from two processes at once would race.
Hidden ``.name.*.tmp*`` files -- what a killed atomic writer (:mod:`.atomic`,
below) leaves beside its destination -- are swept from ``data/``, ``metrics/``
and ``plots/`` at every start.

Outside a stage (library use, tests) each writer is atomic on its own: a
temporary file beside the destination, then ``os.replace`` (:mod:`.atomic`).

The modules, bottom up: :mod:`.atomic`, :mod:`.manifest`, :mod:`.commit`,
:mod:`.lock`, :mod:`.recovery`, :mod:`.inputs`, :mod:`.staging` (the stage in progress,
:func:`atomic_path`) and :mod:`.writers`.
"""

from hyperlab.io.commit import StageOutputs
from hyperlab.io.inputs import check_inputs_committed
from hyperlab.io.lock import WAIT_ENV, stage_lock
from hyperlab.io.manifest import MANIFEST, STAGING, Unfinished, unfinished_commits
from hyperlab.io.recovery import OUTPUT_ROOTS, recover
from hyperlab.io.staging import atomic_path, stage_outputs
from hyperlab.io.writers import save_figure, write_bytes, write_csv, write_json, write_npz, write_tables

__all__ = [
    "MANIFEST",
    "OUTPUT_ROOTS",
    "STAGING",
    "StageOutputs",
    "Unfinished",
    "WAIT_ENV",
    "atomic_path",
    "check_inputs_committed",
    "recover",
    "save_figure",
    "stage_lock",
    "stage_outputs",
    "unfinished_commits",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_npz",
    "write_tables",
]
