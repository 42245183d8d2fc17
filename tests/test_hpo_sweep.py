"""The ``hpo_sweep`` stage: the sweep kinds' families nest and meet ``hpo_scale``'s at their ends, the members are
picked without running a shared family twice, and the stage end to end on tiny params reads ``hpo_scale``'s rows."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config
from hyperlab.hpo import families as fm
from hyperlab.hpo import problem as sm
from hyperlab.hpo import sweep_experiment as sw

SIZES, T = (7, 4, 3), 6  # 7 * 4 + 4 * 3 = 40 kernel weights
BOXES = dict(l2_box=(-8.0, 1.0), lr_box=(0.01, 2.0), l2_0=-3.0, lr0=0.3)


def _problem(**changes):
    return config.parse_section(config.SECTIONS["hpo"], {"T": T, **BOXES, **changes}, "hpo")


def _tree():
    return sm.initial_weights(SIZES, 0)[0]


def _l2_group_of_each_kernel_weight(family) -> np.ndarray:
    """Which coordinate of h each kernel weight's L2 follows: perturb one coordinate at a time."""
    l2 = jax.jit(family.l2)  # one program per family (eagerly, every operation compiles its own)
    h0 = np.asarray(family.h0, np.float32)
    base = np.asarray(l2(h0))
    kernel = fm.layout(_tree()).kernel
    owner = np.full(int(kernel.sum()), -1)
    for i in np.flatnonzero(~family.is_lr):
        moved = np.asarray(l2(h0 + np.eye(len(h0), dtype=h0.dtype)[i])) != base
        owner[moved[kernel]] = i
    return owner


def test_l2_groups_are_contiguous_nested_blocks_ending_at_the_weight_family():
    tree, problem = _tree(), _problem()
    n = fm.n_kernel_weights(tree)
    assert n == 40
    owners = {g: _l2_group_of_each_kernel_weight(fm.sweep_family("l2_groups", g, tree, problem)) for g in (1, 4, 8, n)}
    for g, owner in owners.items():
        assert (np.diff(owner) >= 0).all() and len(set(owner)) == g  # G contiguous blocks, every one used
        assert np.bincount(owner).max() - np.bincount(owner).min() <= 1  # sizes within one
    assert (owners[8] // 2 == owners[4]).all()  # a block of G = 4 is two blocks of G = 8
    weight = fm.make_family("weight", tree, problem)
    groups = fm.sweep_family("l2_groups", n, tree, problem)
    assert groups.name == f"groups{n}" and groups.dim == weight.dim == n + 1
    h = jnp.asarray(np.random.default_rng(0).uniform(weight.low, weight.high), jnp.float32)
    assert np.array_equal(np.asarray(groups.l2(h)), np.asarray(weight.l2(h)))


def test_lr_knots_at_t_knots_is_the_schedule_family():
    tree, problem = _tree(), _problem()
    knots = fm.sweep_family("lr_knots", T, tree, problem)
    schedule = fm.make_family("schedule", tree, problem)
    assert knots.name == f"knots{T}" and knots.dim == schedule.dim == 2 * T + 2
    h = jnp.asarray(np.random.default_rng(1).uniform(schedule.low, schedule.high), jnp.float32)
    for t in range(T):
        assert np.allclose(knots.lr(h, jnp.asarray(t)), schedule.lr(h, jnp.asarray(t)), rtol=1e-6)
    assert [fm.sweep_family("lr_knots", k, tree, problem).dim for k in (1, 2, 3)] == [4, 6, 8]
    assert (
        fm.family_by_label("knots2", tree, problem).dim == 6 and fm.family_by_label("groups3", tree, problem).dim == 4
    )


def test_members_take_shared_families_from_hpo_scale_and_run_only_the_new_ones():
    problem = _problem()
    scale = config.parse_section(
        config.SECTIONS["hpo_scale"], {"knots": 2, "families": ["layer", "knots", "weight"]}, "hpo_scale"
    )
    sweep = config.parse_section(
        config.SECTIONS["hpo_sweep"], {"lr_knots": [1, 2], "l2_groups": [40, 4, 1]}, "hpo_sweep"
    )
    kinds = sw.members(sweep, problem, scale, n_kernel_weights=40)
    # K = 2 is hpo_scale's knots; schedule is not among hpo_scale's families, so no K = T member; G = 40 is weight
    assert kinds == {
        "lr_knots": [("knots1", 1), ("knots", 2)],
        "l2_groups": [("groups1", 1), ("groups4", 4), ("weight", 40)],
    }
    assert sw.new_families(kinds) == ["knots1", "groups1", "groups4"]


@pytest.mark.parametrize(
    ("sweep", "line"),
    [
        ({"lr_knots": [7]}, "hpo_sweep.lr_knots: got 7; every K must be <= hpo.T = 6"),
        ({"l2_groups": [41]}, "hpo_sweep.l2_groups: got 41; every G must be <= 40"),
        ({"l2_groups": [4], "methods": ["exact", "hesbo"]}, "hpo_sweep.methods: hesbo not in hpo_scale.methods"),
    ],
)
def test_sweep_params_beyond_the_problem_or_hpo_scale_are_one_line(sweep, line):
    scale = config.parse_section(config.SECTIONS["hpo_scale"], {"methods": ["exact", "tpe"]}, "hpo_scale")
    params = config.parse_section(config.SECTIONS["hpo_sweep"], sweep, "hpo_sweep")
    with pytest.raises(config.ConfigError) as err:
        params.check_against(_problem(), scale, 40)
    assert line in str(err.value) and "\n" not in str(err.value)


TINY_SCALE = {
    "families": ["layer", "knots"],
    "knots": 2,
    "methods": ["exact", "random"],
    "pieces": 2,
    "seeds": 2,
    "compute_budget": 144,
    "step_budget": 48,
    "check_points": 1,
    "fd_max_dim": 10,
    "fd_directions": 2,
}
TINY_PROBLEM = {"hidden": [4], "n_train": 60, "T": 6}


@pytest.mark.slow
def test_stage_end_to_end_reads_hpo_scales_rows_for_the_shared_members(tmp_path, mnist_npz):
    (tmp_path / "data").mkdir()
    shutil.copy(mnist_npz, tmp_path / "data" / "mnist.npz")
    sweep = {"lr_knots": [1, 2], "l2_groups": [1, 4], "methods": ["exact", "random"]}
    # hpo_scale with the one family the sweep shares (knots), one it does not (layer) and a method it does not run
    scale = {**TINY_SCALE, "families": ["layer", "knots"], "methods": ["exact", "random", "tpe"]}
    params = {"seed": 0, "hpo": TINY_PROBLEM, "hpo_scale": scale, "hpo_sweep": sweep}
    missing = run_stage("hpo_sweep", tmp_path, params, check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].endswith("run `dvc repro hpo_scale` first")
    run_stage("hpo_scale", tmp_path, params)
    run_stage("hpo_sweep", tmp_path, params)
    report = json.loads((tmp_path / "plots/hpo_sweep/report.json").read_text())
    members = {k: [(m["family"], m["size"], m["dim"]) for m in v["members"]] for k, v in report["kinds"].items()}
    # (784-4-10): 2 layers; 4 * 784 + 10 * 4 = 3,176 kernel weights
    assert members == {
        "lr_knots": [("knots1", 1, 4), ("knots", 2, 6)],
        "l2_groups": [("groups1", 1, 2), ("groups4", 4, 5)],
    }
    runs = pd.read_csv(tmp_path / "plots/hpo_sweep/runs.csv")
    assert set(runs["method"]) == {"exact", "random"} and len(runs) == 4 * 2 * 2
    scale_runs = pd.read_csv(tmp_path / "plots/hpo_scale/runs.csv").query("family == 'knots'")
    shared = runs.query("family == 'knots'").drop(columns=["kind", "size"])
    timing = ["wall_s", "warmup_s"]
    expected = scale_runs[scale_runs["method"].isin(["exact", "random"])]
    pd.testing.assert_frame_equal(
        shared.drop(columns=timing).reset_index(drop=True), expected.drop(columns=timing).reset_index(drop=True)
    )
    assert (runs.query("method == 'random'")["evaluations"] == 144 // 6).all()
    metrics = json.loads((tmp_path / "metrics/hpo_sweep.json").read_text())
    for kind in ("lr_knots", "l2_groups"):
        paired = report["kinds"][kind]["views"]["compute"]["paired"]
        assert metrics[f"{kind}_crossover_dim_test_error"] == paired["crossover"]["test_error"]["dim"]
        assert [f["dim"] for f in paired["families"]] == [d for _, _, d in members[kind]]
    assert set(report["kinds"]["lr_knots"]["views"]) == {"compute", "steps"}
    run_stage("figures", tmp_path, {"figures": {"dpi": 40}}, "hpo_sweep")
    assert [p.name for p in (tmp_path / "plots/figures/hpo_sweep").iterdir()] == ["hpo_sweep_vs_dim.png"]
    jax.clear_caches()
