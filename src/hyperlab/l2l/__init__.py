"""Learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016).

* :mod:`.names` -- the names ``params.yaml`` may give the choices, and the bar of the verdicts (no JAX).
* :mod:`.optimizee` -- the MNIST MLP being optimized, and its variants.
* :mod:`.lstm_optimizer` -- the coordinatewise LSTM optimizer as an optax transformation.
* :mod:`.recipes` -- the two meta-training recipes: the paper's appendix and the authors' released code.
* :mod:`.meta_loss` -- the meta-loss of one truncated unroll.
* :mod:`.meta_step` -- one meta-step: the meta-gradient over a batch of optimizees, clipped and applied.
* :mod:`.meta_train` -- truncated-BPTT meta-training with a best-on-validation checkpoint.
* :mod:`.evaluate` -- optimizee runs under any optimizer: per-step loss, gradient norm and parameter norm.
* :mod:`.baselines` -- SGD / Adam / RMSprop / NAG with grid-tuned learning rates.
* :mod:`.protocol` -- the experiment's splits, seed streams, meta-training wiring and test-split evaluation.
* :mod:`.eval_tables` -- the test-split tables and paired verdicts of one setting.
* :mod:`.budget_curve` -- the meta-training budget curve on val, and the setting it chooses.
* :mod:`.weights` -- the meta-trained weights file read back, checked.
* :mod:`.train_experiment`, :mod:`.eval_experiment` -- the ``l2l_train`` and ``l2l`` stages' experiments.
"""
