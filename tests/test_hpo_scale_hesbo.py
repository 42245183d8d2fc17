"""HeSBO (GP-EI in a hashing embedding) in the dimension study: the map, a known low-dimensional optimum,
and its parameter."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from hyperlab import config
from hyperlab.hpo import search_methods as sm


def _box(d: int) -> SimpleNamespace:
    """A family as the methods see it: dimension, box and h0 (here the box's centre)."""
    return SimpleNamespace(dim=d, low=-np.ones(d, np.float32), high=np.ones(d, np.float32), h0=np.zeros(d, np.float32))


def test_the_embedding_starts_at_h0_and_every_coordinate_follows_one_of_z_with_its_sign():
    fam = SimpleNamespace(
        dim=3, low=np.array([-12.0, -12.0, -4.6]), high=np.array([0.0, 0.0, 0.7]), h0=np.array([-6.0, -6.0, -2.3])
    )
    emb = sm.embedding(fam, 2, seed=0)
    assert emb.bucket.shape == emb.sign.shape == (3,) and set(np.abs(emb.sign)) == {1.0}
    np.testing.assert_allclose(sm.embed(fam, emb, np.zeros(2)), fam.h0, rtol=1e-6)  # z = 0 is h0
    z = np.array([0.3, -0.2])
    half = (fam.high - fam.low) / 2
    by_hand = np.clip(fam.h0 + half * emb.sign * z[emb.bucket], fam.low, fam.high)
    np.testing.assert_allclose(sm.embed(fam, emb, z), by_hand, rtol=1e-5)
    # the box's centre as h0: [-1, 1]^k covers the whole box on every coordinate, nothing clipped
    box = _box(1000)
    corners = sm.embed(box, sm.embedding(box, 4, seed=1), np.ones(4))
    assert set(np.abs(corners)) == {1.0}


def test_hesbo_finds_an_optimum_that_varies_in_few_coordinates_of_many():
    # f depends on 2 of 200 coordinates (low effective dimension, HeSBO's premise; Nayebi et al. 2019):
    # from f(h0) = 0.34, 30 evaluations on each of 5 seeds; the embedding sets those 2 coordinates apart
    # unless they share a bucket (a chance of 1/k)
    d = 200
    fam = _box(d)

    def f(h):
        return float((h[3] - 0.3) ** 2 + (h[57] + 0.5) ** 2)

    def best(rounds) -> float:
        return min(r.value for r in itertools.islice(rounds, 30))

    first = next(sm.hesbo_rounds(fam, 0, 5, 4, 1, f))
    assert first.value == pytest.approx(f(fam.h0))  # the first trial is h0
    hesbo = [best(sm.hesbo_rounds(fam, s, 5, 4, 1, f)) for s in range(5)]
    random = [best(sm.random_rounds(fam, s, 1, f)) for s in range(5)]
    assert np.median(hesbo) < 0.05 * first.value
    assert np.median(hesbo) < np.median(random)  # the same evaluations, uniform in the whole box


def test_a_bad_embedding_dimension_is_one_line():
    with pytest.raises(config.ConfigError, match="embedding_dim"):
        config.parse_section(config.SECTIONS["hpo_scale"], {"embedding_dim": 0}, "hpo_scale")
