"""Summaries of an outer run shared by the bilevel experiments."""

from __future__ import annotations

import numpy as np


def steps_to_tol(values: np.ndarray, tol: float) -> int | None:
    """First step from which ``values`` stay below ``tol`` to the end (None: never; NaN counts as above).

    "Stay" matters: w sweeps through w = 0 on its way to -h, so L_val can dip
    below a tolerance long before the hyperparameter has converged.
    """
    above = np.flatnonzero(~(np.asarray(values) < tol))
    if above.size == 0:
        return 0
    first = int(above[-1]) + 1
    return first if first < len(values) else None
