"""The names ``params.yaml`` may give the learning-to-learn choices, and the bar of the verdicts: defined here only.

Light on purpose (no JAX): :mod:`hyperlab.config` checks ``l2l.activation`` and
``l2l.generalization`` against these before any stage imports the modules that
implement them (:mod:`.optimizee`, :mod:`.protocol`), and a figure reads the bar
without importing JAX.
"""

#: The bar of the reproduction: a meta-seed's LSTM beats a tuned baseline in at least this fraction of paired
#: runs (the test-split verdict, :func:`.eval_tables.checkpoint_summary`, and the budget curve on val,
#: :mod:`.budget_curve`).
BAR_FRACTION = 0.75

#: ``l2l.activation``: hidden activation of the optimizee, by its ``jax.nn`` name.
ACTIVATIONS = ("sigmoid", "relu", "tanh")
#: ``l2l.generalization``: the generalization settings of Andrychowicz et al. 2016, Fig. 5.
GENERALIZATION = ("hidden40", "layers2", "relu")
#: ``l2l.meta_objective``: the meta-loss of one unroll, over f(theta_1..theta_T) (:func:`.meta_loss.unroll`).
META_OBJECTIVES = ("mean", "log_mean")
#: ``l2l.meta_lr_schedule``: the meta-learning rate over meta-training (:func:`.meta_step.meta_optimizer`).
META_LR_SCHEDULES = ("constant", "cosine")
#: ``l2l.recipes``: the meta-training recipes (:mod:`.recipes`): the paper's appendix and the authors' released code.
RECIPES = ("appendix", "released")
#: Gradient preprocessings of the LSTM's input (:func:`.lstm_optimizer.preprocess_gradient`).
PREPROCESSINGS = ("appendix", "log_and_sign")
#: The bar of the reproduction: the LSTM beats a tuned baseline in at least this fraction of paired runs.
BAR_FRACTION = 0.75
