"""The one method stack of both HPO stages: every method on a tiny instance of every family, the cost
accounting against a hand-counted run, the measured budget unit, and the one non-finite policy."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab import config
from hyperlab.hpo import best_response, budget, cost, gradient, methods
from hyperlab.hpo.families import make_family
from hyperlab.hpo.names import FAMILIES
from hyperlab.hpo.problem import Data, initial_weights, inner

SIZES, T = (6, 3, 3), 4
LABELS = ("exact", "drmad", "kpiece2", "ift", "online1", "hypernet", "gp_ei", "tpe", "random", "cmaes", "hesbo")
SETTINGS = methods.Settings(
    outer_lr=0.2,
    online_every=2,
    cg_maxiter=3,
    n_startup_trials=2,
    hypernet=best_response.HypernetSettings(every=2, batch=2, sigma=0.5, phi_lr=0.003, outer_lr=0.2),
    embedding_dim=2,
    cma_full_max_dim=30,
)


def _tiny(seed=0, n=20):
    rng = np.random.default_rng(seed)

    def split():
        return jnp.asarray(rng.normal(size=(n, SIZES[0])), jnp.float32), jnp.asarray(rng.integers(0, 3, n), jnp.int32)

    tree, w0 = initial_weights(SIZES, seed)
    return Data(*split(), *split(), *split()), tree, w0


def _family(name, tree):
    raw = {"T": T, "orders": [1], "lr0": 0.3, "l2_0": -3.0, "l2_box": [-8.0, 1.0], "lr_box": [0.01, 2.0]}
    return make_family(name, tree, config.parse_section(config.SECTIONS["hpo"], raw, "hpo"), knots=2)


@pytest.fixture(scope="module")
def pieces_of():
    """``name -> Pieces`` of that family on :func:`_tiny`'s network, built once for the module: a
    :class:`methods.Pieces` holds only jitted, stateless programs, so the tests of one family share
    its compilations instead of each compiling the same programs again."""
    cache: dict[str, methods.Pieces] = {}

    def get(name):
        if name not in cache:
            cache[name] = methods.Pieces(_family(name, _tiny()[1]), T, SETTINGS)
        return cache[name]

    return get


@pytest.mark.slow  # about 10 s a family: the compilation of every method's programs
@pytest.mark.parametrize("name", FAMILIES)
def test_every_method_runs_through_the_one_stack_on_every_family(name, pieces_of):
    """Three rounds of each method: f(h0) first, finite values, h in the box, the cost its table says."""
    data, tree, w0 = _tiny()
    pieces = pieces_of(name)
    fam, f0 = pieces.family, float(pieces.f(data, tree, w0, jnp.asarray(pieces.family.h0)))
    for label in LABELS:
        rounds = list(itertools.islice(pieces.rounds(label, 0, data, tree, w0), 3))
        assert rounds[0].value == pytest.approx(f0, rel=1e-6), label  # every method starts at h0
        for r in rounds:
            assert np.isfinite(r.value), label
            assert np.all(r.h >= fam.low - 1e-6) and np.all(r.h <= fam.high + 1e-6), label
        base = methods.split(label)[0]
        if base in ("exact", "drmad", "kpiece", "ift"):
            assert all(r.cost == cost.round_cost(base, T, SETTINGS.cg_maxiter) for r in rounds), label
        elif base in methods.SEARCH:
            assert all(r.cost == cost.evaluation(T) for r in rounds), label


def test_cost_of_a_tiny_run_matches_the_hand_count(pieces_of):
    """T = 4 inner steps, a hyper-step every 2, look-ahead n = 1, 3 CG products, hypernetwork 2 x 2:

    exact / kpiece2 / drmad: each outer step runs 4 steps forward and reverses 4 -> 3 rounds: (12, 12, 0);
    ift: 4 forward, 1 cross-term VJP, 3 CG products per step -> (12, 3, 9);
    online1: f(h0) costs 4 forward; a pass has m = 4 // 2 = 2 hyper-steps, each 1 step forward and back
    plus 2 inner steps, then 4 steps for f(h_end): 2 * (1 + 2) + 4 = 10 forward, 2 reverse -> (14, 2, 0);
    hypernet: f(h0) and b = w_T(h0), 8 forward; a round 2 * 2 + 4 = 8 -> (16, 0, 0);
    a search trial: 4 forward -> 3 trials (12, 0, 0).
    """
    data, tree, w0 = _tiny()
    pieces = pieces_of("layer")
    expected = {
        "exact": ((12, 12, 0), 3),
        "kpiece2": ((12, 12, 0), 3),
        "drmad": ((12, 12, 0), 3),
        "ift": ((12, 3, 9), 3),
        "online1": ((14, 2, 0), 2),
        "hypernet": ((16, 0, 0), 2),
        "random": ((12, 0, 0), 3),
    }
    for label, (used, n_rounds) in expected.items():
        rounds = itertools.islice(pieces.rounds(label, 0, data, tree, w0), n_rounds)
        trace = budget.run_budget(rounds, seconds=0.0, steps=10**9)
        assert tuple(trace.used[-1]) == used and trace.steps[-1] == used[0], label
    # the reverse counts are what the engine reversed: all T steps (the guard let every one through)
    h0 = jnp.asarray(pieces.family.h0)
    for how, n, steps in (("exact", 1, T), ("kpiece", 2, T), ("drmad", 1, T), ("truncated", 1, 1)):
        assert int(pieces.hypergradient(how, n)(data, tree, w0, h0)[2]) == steps, how


def test_the_budget_unit_is_measured_from_single_step_programs_and_converts_counts():
    data, tree, w0 = _tiny()
    fam = _family("unit", tree)
    p = inner(fam, data, tree)
    unit = cost.measure(p.step, p.train_loss, w0, jnp.asarray(fam.h0))
    # a reverse step linearizes the step and then applies its transpose: more work than the step itself
    assert 1.0 < unit.reverse < 10.0 and 0.0 < unit.cg < 10.0 and unit.forward_flops > 0
    c = cost.Cost(forward=80, reverse=80, cg=30)
    assert cost.equivalents(c, unit) == pytest.approx(80 + 80 * unit.reverse + 30 * unit.cg)
    assert cost.total([c, cost.Cost(5, 1)]) == cost.Cost(85, 81, 30)


def test_a_non_finite_hypergradient_coordinate_is_left_where_it_is():
    """The one policy (gradient.finite_or_zero): NaN / inf coordinates get no step, the others move,
    and the objective value is passed on as it is (NaN stays NaN)."""
    _, tree, _ = _tiny()
    fam = _family("layer", tree)

    def broken(data, tree, w0, h):
        return jnp.asarray(jnp.nan), jnp.asarray([jnp.nan, 1.0, jnp.inf], h.dtype), jnp.asarray(0)

    step = gradient.descent_step(fam, broken, 0.1, cost.Cost(T))
    h = jnp.asarray(fam.h0)
    f, h_next, _ = step(None, None, None, h, step.init(h))
    assert math.isnan(float(f))
    assert h_next[0] == h[0] and h_next[2] == h[2] and h_next[1] < h[1]


def test_unknown_names_are_refused_in_one_line(pieces_of):
    pieces = pieces_of("layer")
    with pytest.raises(ValueError, match="unknown method 'bobyqa'; allowed: exact") as err:
        pieces.piece("bobyqa")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown hypergradient 'adjoint'"):
        gradient.hypergradient(pieces.family, T, "adjoint")
    with pytest.raises(ValueError, match="no descent cost for 'online'"):
        cost.round_cost("online", T, 3)


def test_labels_split_into_name_and_number():
    assert methods.split("kpiece4") == ("kpiece", 4) and methods.split("exact") == ("exact", None)
    assert methods.label("online", 4, 5) == "online5" and methods.label("kpiece", 4, 5) == "kpiece4"
    assert methods.is_gradient("online12") and not methods.is_gradient("hesbo")


def test_the_hpo_stage_runs_the_layer_family_of_hpo_scale():
    """The ``hpo`` stage's problem is ``hpo_scale``'s ``layer`` family, through the same pieces: the same box,
    h0, objective and hypergradients, bit for bit."""
    from hyperlab.hpo import experiment, scale_experiment

    raw = {"hidden": [3], "n_train": 20, "T": T, "orders": [1], "pieces": 2}
    problem = config.parse_section(config.SECTIONS["hpo"], raw, "hpo")
    scale = config.parse_section(config.SECTIONS["hpo_scale"], {"families": ["layer"], "pieces": 2}, "hpo_scale")
    rng = np.random.default_rng(0)
    arrays = {f"x_{s}": rng.integers(0, 256, (20, 784)).astype(np.uint8) for s in ("train", "val", "test")}
    arrays |= {f"y_{s}": rng.integers(0, 10, 20) for s in ("train", "val", "test")}
    runs = scale_experiment.Runs(problem, scale, arrays, 0)
    ours, theirs = experiment.make_pieces(problem), runs.pieces("layer")
    for field in ("low", "high", "h0", "is_lr"):
        np.testing.assert_array_equal(getattr(ours.family, field), getattr(theirs.family, field))
    tree, w0 = initial_weights(runs.sizes, 0)
    h = jnp.asarray(ours.family.h0) + 0.1
    assert float(ours.f(runs.data, tree, w0, h)) == float(theirs.f(runs.data, tree, w0, h))
    for how, n in (("exact", 1), ("kpiece", 2)):
        g_ours = ours.hypergradient(how, n)(runs.data, tree, w0, h)[1]
        np.testing.assert_array_equal(g_ours, theirs.hypergradient(how, n)(runs.data, tree, w0, h)[1])
