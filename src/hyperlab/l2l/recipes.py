"""The two meta-training recipes of Andrychowicz et al. (2016) on MNIST, by name (``l2l.recipes``).

``appendix``: the paper's Appendix A -- gradient preprocessing with p = 10,
updates of 0.1 x the LSTM output -- with this project's meta-optimizer
(Adam 0.005 on global-norm-clipped meta-gradients, two optimizees a meta-step).

``released``: the authors' released code (DeepMind ``learning-to-learn``,
``util.py``'s MNIST problem and ``train.py``'s flags): LogAndSign
preprocessing with k = 5, updates of 0.01 x the output, Adam 0.001 on the
unclipped meta-gradient of one optimizee a meta-step.

What the two share (LSTM 2 x 20, unrolls of 20 of a 100-step run, minibatches
of 128, first-order meta-gradients) lives in the ``l2l`` section. The released
code sums f over the unroll where Eq. 3 averages it; Adam's steps are the same
up to its epsilon, so the mean is kept for both.
"""

from __future__ import annotations

from typing import NamedTuple


class Recipe(NamedTuple):
    preprocess: str  # "appendix" (p) or "log_and_sign" (k): :func:`.lstm_optimizer.preprocess_gradient`
    p: float  # p of Appendix A, k of LogAndSign
    scale: float  # the update is scale x the LSTM output
    meta_lr: float  # Adam's learning rate on the LSTM weights
    meta_batch: int  # optimizees per meta-step (their meta-gradients averaged)
    clip_norm: float | None  # global-norm clipping of the meta-gradient (None: none)


RECIPES: dict[str, Recipe] = {
    "appendix": Recipe("appendix", 10.0, 0.1, 0.005, 2, 1.0),
    "released": Recipe("log_and_sign", 5.0, 0.01, 0.001, 1, None),
}
