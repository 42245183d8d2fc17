"""Learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016).

* :mod:`.optimizee` -- the MNIST MLP being optimized, and its variants.
* :mod:`.lstm_optimizer` -- the coordinatewise LSTM optimizer as an optax transformation.
* :mod:`.meta_loss` -- the meta-loss of one truncated unroll.
* :mod:`.meta_step` -- one meta-step: the meta-gradient over a batch of optimizees, clipped and applied.
* :mod:`.meta_train` -- truncated-BPTT meta-training with a best-on-validation checkpoint.
* :mod:`.baselines` -- SGD / Adam / RMSprop / NAG with grid-tuned learning rates.
* :mod:`.evaluate` -- per-step loss, gradient norm and parameter norm over fresh inits.
"""
