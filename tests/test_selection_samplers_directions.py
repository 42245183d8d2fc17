"""The GP samplers maximize as they minimize: a study of ``-g`` with direction "maximize" is the study of ``g``.

The samplers minimize internally (targets negated for "maximize", a failed
trial counted as the worst value *in the study's direction*), so with one seed
the two studies must suggest the very same points, and both find the optimum.
Public sampler API only.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from hyperlab.selection.samplers.gp import GPEIPerSecondSampler, GPEISampler

optuna.logging.set_verbosity(optuna.logging.ERROR)
OPTIMUM = 0.3


class Unlucky(Exception):
    """The objective fails in a corner of the space: a FAIL trial."""


def _objective(sign: float, dims: int, integer: bool):
    def objective(trial):
        if integer:
            x = np.array([trial.suggest_int(f"x{i}", 0, 20) / 20 for i in range(dims)])
        else:
            x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dims)])
        trial.set_user_attr("cost", 1.0 + x[0])  # read by the per-second sampler
        if x[0] > 0.9:
            raise Unlucky
        return sign * float(((x - OPTIMUM) ** 2).sum())

    return objective


def _study(sampler_cls, direction: str, dims: int, integer: bool, seed: int) -> optuna.Study:
    study = optuna.create_study(direction=direction, sampler=sampler_cls(n_startup_trials=4, seed=seed))
    sign = -1.0 if direction == "maximize" else 1.0
    study.optimize(_objective(sign, dims, integer), n_trials=16, catch=(Unlucky,))
    return study


#: every sampler on one and two continuous dimensions and on an integer grid; GP-EI on the grid is fast
#: enough for the edit-run loop (``make check``), the other cases run in the full suite
CASES = [
    pytest.param(
        cls,
        dims,
        integer,
        id=f"{dims}-{integer}-{cls.__name__}",
        marks=() if (cls, dims, integer) == (GPEISampler, 1, True) else pytest.mark.slow,
    )
    for cls in (GPEISampler, GPEIPerSecondSampler)
    for dims, integer in ((1, False), (2, False), (1, True))
]


@pytest.mark.parametrize("sampler_cls, dims, integer", CASES)
def test_maximize_finds_the_max_as_minimize_finds_the_min_of_the_negation(sampler_cls, dims, integer):
    for seed in (0, 1):
        up = _study(sampler_cls, "maximize", dims, integer, seed)
        down = _study(sampler_cls, "minimize", dims, integer, seed)
        # the same points, in the same order, failures included
        assert [t.params for t in up.trials] == [t.params for t in down.trials]
        assert [t.state for t in up.trials] == [t.state for t in down.trials]
        assert up.best_value == -down.best_value and up.best_params == down.best_params
        # both found the optimum: max of -(x - 0.3)^2 at x = 0.3 (on the grid: 6/20)
        best = np.array(list(up.best_params.values()), dtype=float) / (20 if integer else 1)
        assert np.abs(best - OPTIMUM).max() < 0.03
        assert up.best_value > -1e-3


def test_maximize_differs_from_minimize_of_the_same_function():
    """A control: maximizing ``g`` itself goes elsewhere (the corner farthest from 0.3), so the equality above
    is the direction handled, not a sampler that ignores its values."""
    up = _study(GPEISampler, "maximize", 1, False, 0)
    study = optuna.create_study(direction="maximize", sampler=GPEISampler(n_startup_trials=4, seed=0))
    study.optimize(_objective(1.0, 1, False), n_trials=16, catch=(Unlucky,))
    assert [t.params for t in study.trials] != [t.params for t in up.trials]
    assert study.best_params["x0"] < 0.05 or study.best_params["x0"] > 0.85
