"""The expensive stages' work spread over worker processes and machines, through an Optuna storage.

A stage lists its work as *units* (JSON-able keys, in a fixed order) and calls
:func:`map_units`. With no engine configured every unit runs in the stage's
process, in order. With ``HYPERLAB_ENGINE=<storage>`` (a PostgreSQL URL or a
journal file on a shared disk) the units become the enqueued trials of one
Optuna study, any number of workers (``python stages/<stage>.py --worker``,
and ``HYPERLAB_LOCAL_WORKERS`` local ones) claim them one at a time, a killed
worker's unit is redone, and the stage assembles the results in unit order.
docs/distributed.md is the user's page; :mod:`.queue` the storage protocol.
"""

from hyperlab.engine.queue import UnitFailed
from hyperlab.engine.run import distributed, map_units, run_worker, settings, study_name, work

__all__ = ["UnitFailed", "distributed", "map_units", "run_worker", "settings", "study_name", "work"]
