"""hyperlab: model selection and gradient-based hyperparameter optimization in JAX."""

__version__ = "0.1.0"
