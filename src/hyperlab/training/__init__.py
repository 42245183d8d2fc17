"""Training and timing ReLU MLPs on MNIST: the engine of the ``candidates`` stage's tabular benchmark.

* :mod:`.network` -- what a network is: its widths tuple ``Arch``, name, parameter
  count, FLOPs and the seed stream of its initial weights;
* :mod:`.mlp` -- the Flax model, its initialization, and a *pack* of networks of
  any shapes computed as a few large operations (no padding);
* :mod:`.trainer` -- every network of a space trained under every seed, one
  jitted ``lax.scan`` per pack, seeds vmapped;
* :mod:`.timing` -- inference latency, each network timed alone (the protocol every timing shares).

Dependencies: this package sits *below* :mod:`hyperlab.selection`, which uses
it (:mod:`hyperlab.selection.table.candidates_experiment` trains and times the
space, :mod:`hyperlab.selection.table.retiming` re-times it, :mod:`hyperlab.selection.space.architectures`
enumerates networks); it imports only base modules and knows nothing of the
search (``tests/test_architecture.py`` holds the whole rule table).
"""
