"""The dimension study's paired verdicts: seed by seed, on the objective and the two held-out scales."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hyperlab.hpo import scale_verdict
from hyperlab.hpo.gradient import relative_error


def _runs(per_family: dict[int, dict[str, list[float]]], scale_shift: dict[str, float] | None = None) -> pd.DataFrame:
    """Runs of ``exact`` (hypergradient) and ``tpe`` (search) per dimension: one value per seed, on every scale.

    ``scale_shift`` moves the hypergradient method's held-out scores by a constant per scale.
    """
    shift = scale_shift or {}
    rows = []
    for dim, methods in per_family.items():
        for method, values in methods.items():
            for seed, v in enumerate(values):
                row = {"family": f"f{dim}", "dim": dim, "method": method, "ran": True, "why_not": "", "seed": seed}
                for scale in ("val_loss", "test_loss", "test_error", "val_error"):
                    row[scale] = v + (shift.get(scale, 0.0) if method == "exact" else 0.0)
                row.update(initial_val_loss=1.0, evaluations=20, wall_s=1.0, warmup_s=0.1, memory_bytes=1.0)
                rows.append(row)
    return pd.DataFrame(rows)


def _paired(runs: pd.DataFrame) -> dict:
    return scale_verdict.paired(runs, scale_verdict.verdicts(scale_verdict.summarize(runs)))


def test_a_side_wins_a_scale_only_when_ahead_on_every_seed():
    runs = _runs(
        {
            3: {"exact": [0.50, 0.51, 0.52], "tpe": [0.40, 0.41, 0.42]},  # search ahead on all 3
            30: {"exact": [0.40, 0.46, 0.40], "tpe": [0.45, 0.45, 0.45]},  # 2 of 3: a better median, no winner
            300: {"exact": [0.30, 0.31, 0.32], "tpe": [0.50, 0.50, 0.50]},  # hypergradient ahead on all 3
        }
    )
    out = _paired(runs)
    by_dim = {f["dim"]: f["scales"]["val_loss"] for f in out["families"]}
    assert [by_dim[d]["winner"] for d in (3, 30, 300)] == ["search", None, "hypergradient"]
    assert (by_dim[30]["hypergradient_ahead"], by_dim[30]["search_ahead"], by_dim[30]["level"]) == (2, 1, 0)
    # the median rule calls d = 30 a hypergradient win, the paired rule no winner: the crossovers differ
    assert scale_verdict.crossover(scale_verdict.summarize(runs))["dim"] == 30
    assert out["crossover"]["val_loss"]["dim"] == 300


def test_ties_are_no_win_and_each_scale_has_its_own_crossover():
    # the hypergradient side is ahead on validation everywhere, but its test error is worse by 0.1 at d = 3
    # and level (a tie on every seed) at d = 30
    runs = _runs(
        {
            3: {"exact": [0.40, 0.40], "tpe": [0.45, 0.45]},
            30: {"exact": [0.40, 0.40], "tpe": [0.50, 0.50]},
        },
        scale_shift={"test_error": 0.1},
    )
    runs.loc[(runs.dim == 30) & (runs.method == "exact"), "test_error"] = 0.50
    out = _paired(runs)
    assert out["crossover"]["val_loss"]["dim"] == 3
    assert out["crossover"]["test_loss"]["dim"] == 3
    assert out["crossover"]["test_error"]["dim"] is None
    d30 = next(f for f in out["families"] if f["dim"] == 30)["scales"]["test_error"]
    assert (d30["level"], d30["winner"]) == (2, None)
    assert "every paired seed" in out["rule"]


@pytest.mark.parametrize("side_missing", ["search", "hypergradient"])
def test_a_family_where_one_side_did_not_run_goes_to_the_other(side_missing):
    runs = _runs({3: {"exact": [0.4, 0.4], "tpe": [0.5, 0.5]}})
    method = "tpe" if side_missing == "search" else "exact"
    runs.loc[runs.method == method, "ran"] = False
    out = _paired(runs)
    winner = "hypergradient" if side_missing == "search" else "search"
    assert {s["winner"] for s in out["families"][0]["scales"].values()} == {winner}


@pytest.mark.parametrize(
    "approx, exact, expected",
    [
        ([3.0, 4.0], [3.0, 0.0], 4.0 / 3.0),  # |(0, 4)| / |(3, 0)|
        ([1.0, 1.0], [0.0, 0.0], "nan"),  # no reference size: not "infinitely wrong"
        ([1.0, 1.0], [float("nan"), 1.0], "nan"),  # an invalid reference
        ([float("nan"), 1.0], [1.0, 1.0], "nan"),  # a diverged method: NaN, kept
    ],
)
def test_relative_error_is_nan_where_it_has_no_meaning(approx, exact, expected):
    got = relative_error(np.asarray(approx), np.asarray(exact))
    assert math.isnan(got) if expected == "nan" else got == pytest.approx(expected)
