"""The names ``params.yaml`` may give the learning-to-learn choices: defined here only.

Light on purpose (no JAX): :mod:`hyperlab.config` checks ``l2l.activation`` and
``l2l.generalization`` against these before any stage imports the modules that
implement them (:mod:`.optimizee`, :mod:`.pipeline`).
"""

#: ``l2l.activation``: hidden activation of the optimizee, by its ``jax.nn`` name.
ACTIVATIONS = ("sigmoid", "relu", "tanh")
#: ``l2l.generalization``: the generalization settings of Andrychowicz et al. 2016, Fig. 5.
GENERALIZATION = ("hidden40", "layers2", "relu")
