"""Training and timing ReLU MLPs on MNIST: the engine of the ``candidates`` stage's tabular benchmark.

* :mod:`.mlp` -- the Flax model, its initialization, and a *pack* of networks of
  any shapes computed as a few large operations (no padding);
* :mod:`.trainer` -- every network of a space trained under every seed, one
  jitted ``lax.scan`` per pack, seeds vmapped;
* :mod:`.latency` -- inference latency, each network timed alone.

Dependencies: this package sits *below* :mod:`hyperlab.selection`, which uses
it (:mod:`hyperlab.selection.candidates_experiment` trains and times the
space, :mod:`hyperlab.selection.latency` re-times it). Of ``selection`` it
imports only :mod:`hyperlab.selection.space`, a leaf module that imports
nothing: what an architecture *is* -- the ``Arch`` widths tuple, its
parameter count and training FLOPs, and the CRC of its name that seeds its
initial weights. Passing those in would only move their one definition
around; importing anything else of ``selection`` would make the arrows point
both ways (``tests/test_architecture.py`` holds the whole rule table).
"""
