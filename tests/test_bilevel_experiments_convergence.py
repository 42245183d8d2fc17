"""Summaries of an outer run shared by the bilevel experiments (hyperlab.bilevel.experiments.convergence)."""

from __future__ import annotations

import numpy as np

from hyperlab.bilevel.experiments.convergence import steps_to_tol


def test_steps_to_tol_means_stays_below():
    assert steps_to_tol(np.array([1.0, 0.5, 1e-4, 0.5, 1e-4, 1e-5]), 1e-3) == 4
    assert steps_to_tol(np.array([1e-4, 1e-5]), 1e-3) == 0
    assert steps_to_tol(np.array([1.0, 1e-4, 0.5]), 1e-3) is None
    # a NaN is never below the tolerance: a diverged run has not converged
    assert steps_to_tol(np.array([1.0, np.nan, 1e-4]), 1e-3) == 2
    assert steps_to_tol(np.array([1e-4, np.nan]), 1e-3) is None
