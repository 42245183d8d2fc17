"""The names ``params.yaml`` may give the bilevel experiments' choices: defined here only.

Light on purpose (no JAX): :mod:`hyperlab.config` checks ``bilevel``, ``drmad``
and ``hypernet`` against these before any stage imports the modules that
implement them.
"""

#: ``bilevel.outer_optimizer``: the optax optimizer of h (:func:`.hypergrad.outer_optimizer`).
OUTER_OPTIMIZERS = ("sgd", "momentum", "adam")
#: ``drmad.outer_optimizer``: the optax optimizer of (h, log lr) (:mod:`.experiments.drmad_experiment`).
DRMAD_OUTER_OPTIMIZERS = ("sgd", "adam")
#: ``hypernet.kinds``: hypernetworks w_phi(h) (:mod:`.hypernet`).
HYPERNET_KINDS = ("linear", "mlp")
#: ``hypernet.variants``: Lorraine & Duvenaud 2018's Algorithm 1 (global) and 2 (local).
HYPERNET_VARIANTS = ("global", "local")
