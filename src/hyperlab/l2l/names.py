"""The names ``params.yaml`` may give the learning-to-learn choices: defined here only.

Light on purpose (no JAX): :mod:`hyperlab.config` checks ``l2l.activation`` and
``l2l.generalization`` against these before any stage imports the modules that
implement them (:mod:`.optimizee`, :mod:`.pipeline`).
"""

#: ``l2l.activation``: hidden activation of the optimizee, by its ``jax.nn`` name.
ACTIVATIONS = ("sigmoid", "relu", "tanh")
#: ``l2l.generalization``: the generalization settings of Andrychowicz et al. 2016, Fig. 5.
GENERALIZATION = ("hidden40", "layers2", "relu")
#: ``l2l.meta_objective``: the meta-loss of one unroll, over f(theta_1..theta_T) (:func:`.meta_loss.unroll`).
META_OBJECTIVES = ("mean", "log_mean")
#: ``l2l.meta_lr_schedule``: the meta-learning rate over meta-training (:func:`.meta_step.meta_optimizer`).
META_LR_SCHEDULES = ("constant", "cosine")
