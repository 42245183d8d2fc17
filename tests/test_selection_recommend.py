"""The post-hoc recommender (lowest GP posterior mean among the evaluated networks) against the lucky draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperlab.selection.analysis.recommend import posterior_means, recommend, recommendation_regrets
from hyperlab.selection.space.encoding import Space

#: one-layer networks of widths 16 .. 512 (log2 widths 4 .. 9)
SPACE = Space((1,), (16, 32, 64, 128, 256, 512), 1)
# the truth: 128 is the best network (0.050); 32 is worse (0.060)
TRUTH = pd.DataFrame(
    {"val_error": [0.30, 0.060, 0.10, 0.050, 0.052, 0.061]}, index=pd.Index(["16", "32", "64", "128", "256", "512"])
)
# the observations: 32's two seeds gave 0.045 (lucky) and 0.075; 128's two 0.050 and 0.050
OBSERVED = [
    ("16", 0.30),
    ("16", 0.30),
    ("32", 0.045),
    ("32", 0.075),
    ("64", 0.10),
    ("128", 0.050),
    ("128", 0.050),
    ("256", 0.052),
    ("512", 0.06),
]


def _trials(observed) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "state": "COMPLETE",
            "arch": [a for a, _ in observed],
            "val_error": [v for _, v in observed],
            "trial": range(len(observed)),
            "repeat": 0,
        }
    )


def test_the_posterior_mean_overrules_a_lucky_draw():
    trials = _trials(OBSERVED)
    incumbent = trials.loc[trials["val_error"].idxmin(), "arch"]
    assert incumbent == "32"  # the lowest observation is 32's lucky seed
    means = posterior_means(trials["arch"].tolist(), trials["val_error"].to_numpy(), SPACE)
    # the GP learns the seed noise from 32's two draws: its mean sits near their average, above 128's
    assert means["32"] > means["128"] and means["32"] == pytest.approx(0.060, abs=0.005)
    assert recommend(trials, SPACE) == "128" == means.idxmin()
    # regret: incumbent 0.060 - 0.050 = 0.010; the recommendation's 0
    regrets = recommendation_regrets(trials, TRUTH, SPACE, [len(trials)], worst=0.25)
    assert regrets["recommended"].tolist() == ["128"] and regrets["regret"].tolist() == [0.0]


def test_the_recommendation_is_an_evaluated_network_and_needs_a_completed_trial():
    trials = _trials(OBSERVED)
    # after two trials only 16 was seen: it is recommended (there is nothing else); before any, the worst regret
    regrets = recommendation_regrets(trials, TRUTH, SPACE, [0, 2, 5], worst=0.25)
    assert regrets["recommended"].tolist() == ["", "16", regrets["recommended"].iloc[2]]
    assert regrets["regret"].iloc[0] == 0.25 and regrets["regret"].iloc[1] == pytest.approx(0.25)
    assert regrets["recommended"].iloc[2] in {"16", "32", "64"}  # among the first 5 trials' networks
    failed = trials.assign(state="FAIL")
    assert recommend(failed, SPACE) == ""


def test_equal_observations_give_the_observed_mean():
    # nothing to smooth: the GP is not fitted, the mean per network is returned
    means = posterior_means(["16", "32", "32"], np.array([0.1, 0.1, 0.1]), SPACE)
    assert means.to_dict() == {"16": 0.1, "32": 0.1}
