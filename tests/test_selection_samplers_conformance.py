"""Optuna's own sampler conformance suite, run on every sampler this project ships.

``optuna.testing.pytest_samplers`` holds the test classes Optuna runs on its
own samplers; each class below plugs ours in, with default settings and with
``n_startup_trials=0`` (the model from the first trial on).

The GP samplers are single-objective: they take ``SingleOnlySamplerTestCase``
(a multi-objective study must raise ``ValueError``) and pass everything.
``CostAwareTPESampler`` is a ``TPESampler`` and takes the multi-objective case
instead. With default settings it fails exactly the tests Optuna's own
``TPESampler()`` fails (run here too, as the reference), listed in
``TPE_BY_DESIGN`` and marked strict xfail for both, so a change on either side
shows up: those tests call ``sample_relative`` by hand after one completed
trial and read the returned parameters, but during its ``n_startup_trials``
(10) TPE returns no relative parameters at all -- its random startup goes
through ``sample_independent`` -- so the lookup raises ``KeyError``. With
``n_startup_trials=0`` both pass them.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
    SingleOnlySamplerTestCase,
)

from hyperlab.selection.samplers.cost_tpe import CostAwareTPESampler
from hyperlab.selection.samplers.gp import GPEIPerSecondSampler, GPEISampler

optuna.logging.set_verbosity(optuna.logging.ERROR)


# ~950 cases of Optuna's suite: the full run (`make test`), not the edit-run loop (`make check`)
pytestmark = pytest.mark.slow

TPE_BY_DESIGN = ("test_sample_relative_numerical", "test_sample_relative_mixed", "test_sample_relative_categorical")


def _variants(cls, **extra):
    return {"default": lambda: cls(**extra), "startup0": lambda: cls(n_startup_trials=0, **extra)}


def _tpe_variant(request, cls):
    if request.param == "default" and request.node.originalname in TPE_BY_DESIGN:
        request.node.add_marker(
            pytest.mark.xfail(
                strict=True,
                raises=KeyError,
                reason="TPE returns no relative params during its startup trials (see module docstring)",
            )
        )
    return _variants(cls)[request.param]


class TestGPEI(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    @pytest.fixture(params=["default", "startup0"])
    def sampler(self, request):
        return _variants(GPEISampler)[request.param]


class TestGPEIPerSecond(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    @pytest.fixture(params=["default", "startup0"])
    def sampler(self, request):
        return _variants(GPEIPerSecondSampler)[request.param]


class TestCostAwareTPE(BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase):
    @pytest.fixture(params=["default", "startup0"])
    def sampler(self, request):
        return _tpe_variant(request, CostAwareTPESampler)


class TestOptunaTPE(BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase):
    """The reference: Optuna's own TPE under the same suite (its failures are the by-design list)."""

    @pytest.fixture(params=["default", "startup0"])
    def sampler(self, request):
        return _tpe_variant(request, optuna.samplers.TPESampler)
