"""The cost model shared by the cost-aware samplers: a GP on log cost.

The cost of a trial is the number the objective stores with
``trial.set_user_attr(cost_attr, c)``. Both :class:`GPEIPerSecondSampler` and
:class:`~hyperlab.selection.samplers.cost_tpe.CostAwareTPESampler` read it through
:func:`trial_cost`, so they accept and refuse exactly the same values:

- a positive finite real number (``int`` or ``float``, not ``bool``): used;
- missing (e.g. an enqueued or hand-told trial): the trial is left out of the
  cost model (one WARNING per study);
- anything else (``"fast"``, ``None``, ``0``, ``-1``, ``inf``, ``nan``): a
  ``ValueError`` naming the trial, the attribute and the value.
"""

from __future__ import annotations

import math
import numbers

from optuna.trial import FrozenTrial


def trial_cost(trial: FrozenTrial, attr: str) -> float | None:
    """The trial's validated cost, or None when it has none."""
    if attr not in trial.user_attrs:
        return None
    c = trial.user_attrs[attr]
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
        raise ValueError(
            f"trial {trial.number}: user attribute {attr!r} = {c!r} is not a cost; it must be a positive finite number"
        )
    return float(c)
