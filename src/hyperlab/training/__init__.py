"""Training and timing the ReLU MLPs of the architecture space (the ``candidates`` stage's tabular benchmark).

* :mod:`.mlp` -- the Flax model, its initialization, and a *pack* of networks of
  any shapes computed as a few large operations (no padding);
* :mod:`.trainer` -- every network of a space trained under every seed, one
  jitted ``lax.scan`` per pack, seeds vmapped;
* :mod:`.latency` -- inference latency, each network timed alone;
* :mod:`.candidates_experiment` -- the ``candidates`` stage: train, time, tabulate
  (docs/REFERENCES.md §1, "Tabular benchmark").

Dependencies: this package sits above :mod:`hyperlab.selection`. It imports
:mod:`hyperlab.selection.space` for what an architecture *is* -- the ``Arch``
widths tuple, its parameter count and FLOPs, and the CRC of its name that
seeds its initial weights (passing these in would only move the one
definition around) -- and the experiment imports
:mod:`hyperlab.selection.candidates` for the table it produces. Nothing in
``selection`` imports ``training``: the searches read the table, never train
(``tests/test_architecture.py`` holds the whole rule table).
"""
