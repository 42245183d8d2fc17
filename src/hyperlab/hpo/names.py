"""The names ``params.yaml`` may give the ``hpo`` stage's methods: defined here only.

Light on purpose (no JAX): :mod:`hyperlab.config` checks ``hpo.methods`` against
these before the stage imports the modules that implement them.
"""

#: ``hpo.methods``: online n-order (``online<n>`` for n in ``hpo.orders``), exact reverse mode, DrMAD
#: (K = 1), K-piece linearization (K = ``hpo.pieces``), implicit function theorem, local hypernetwork,
#: and Bayesian optimization (this project's GP-EI, Optuna's TPE, random search as the floor).
METHODS = ("online", "exact", "drmad", "kpiece", "ift", "hypernet", "gp_ei", "tpe", "random")

#: ``hpo_scale.families``: hyperparameter families of growing dimension (:mod:`hyperlab.hpo.families`); the
#: ``hpo_sweep`` stage's members of a kind are labelled ``knots<K>`` and ``groups<G>`` instead.
FAMILIES = ("layer", "knots", "unit", "schedule", "input", "weight")
#: ``hpo_scale.methods``: the hypergradient side (exact reverse mode, K-piece, DrMAD, IFT, online n-order) ...
SCALE_GRADIENT = ("exact", "kpiece", "drmad", "ift", "online")
#: ... and the search side (this project's GP-EI, Optuna's TPE, random search, CMA-ES, and GP-EI in a
#: hashing embedding, HeSBO: the one Bayesian optimization that runs at every dimension).
SCALE_SEARCH = ("gp_ei", "tpe", "random", "cmaes", "hesbo")
SCALE_METHODS = SCALE_GRADIENT + SCALE_SEARCH
