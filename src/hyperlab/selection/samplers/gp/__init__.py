"""Torch-free Gaussian-process samplers for Optuna (one concept per module, like Optuna's ``_gp``).

- :mod:`.search_space`  Optuna distributions <-> GP features
- :mod:`.gp`            Matern-5/2 ARD kernel, MAP hyperparameters, posterior
- :mod:`.acquisition`   (log) expected improvement, EI per second
- :mod:`.optim`         acquisition maximization over mixed spaces
- :mod:`.cost_model`    what counts as a trial's cost
- :mod:`.threads`       process-wide BLAS limit, safe under threads
- :mod:`.sampler`       GP-EI and EI per second
- :mod:`.constrained`   GP-EI under a budget on a measured quantity (Gardner et al. 2014)
"""

from hyperlab.selection.samplers.gp.sampler import GPEIPerSecondSampler, GPEISampler  # noqa: I001
from hyperlab.selection.samplers.gp.constrained import ConstrainedGPEISampler

__all__ = ["GPEISampler", "GPEIPerSecondSampler", "ConstrainedGPEISampler"]
