"""The candidate table is loaded once, in canonical order, and checked against the params.

Row order must not matter: the lookups draw "the k-th seed row of a network",
so two files with the same rows in another order must give byte-identical
searches and comparisons. A table that is not the params' space x seeds, a
study longer than the networks, a search CSV that is not the table's rows, a
latency file with other rounds: each is refused with one line. As an objective, the table draws the stored
seed rows and fails the failed ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import config
from hyperlab.selection.analysis import compare
from hyperlab.selection.study import runner
from hyperlab.selection.study.trials import TrialsError, load_latency, load_trials
from hyperlab.selection.table.benchmark import NetworkFailed, TableObjective
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import ExpectedRows, Table, load_table, network_summary
from hyperlab.selection.table.validate import TableError

LAYERS, WIDTHS, N_SEEDS = (1, 2), (16, 32, 64), 3
CANDIDATES = {"layers": list(LAYERS), "widths": list(WIDTHS), "n_seeds": N_SEEDS}
EXPECTED = ExpectedRows(LAYERS, WIDTHS, (0, 1, 2))
STRATEGIES = ("random_uniform", "gp_ei")


def _search_params(**over) -> config.SearchParams:
    raw = {
        "n_trials": 8,
        "repeats": 2,
        "n_workers": 1,
        "n_bootstrap": 100,
        "latency_rounds": 2,
        "strategies": {s: {"n_startup_trials": 3} for s in STRATEGIES},
        **over,
    }
    return config.parse_section(config.SearchParams, raw, "search")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_table(LAYERS, WIDTHS, n_seeds=N_SEEDS, seed=2, fail_rate=0.05)


def _shuffled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _rounds(table: Table) -> pd.DataFrame:
    lat = table.nets["latency_ms"]
    return pd.concat(
        [pd.DataFrame({"arch": lat.index, "round": r, "latency_ms": lat.to_numpy() * (1 + 0.03 * r)}) for r in (1, 2)],
        ignore_index=True,
    )


def _search_and_compare_bytes(table: Table) -> dict[str, bytes]:
    params = _search_params()
    trials = {s: runner.run(params, s, table, seed=0).products["trials"] for s in STRATEGIES}
    rounds = {f"round{r}": g.set_index("arch")["latency_ms"] for r, g in _rounds(table).groupby("round")}
    result = compare.run(params, compare.Searches(table, trials, rounds, 1), seed=0)
    out = {f"search/{s}.csv": df.to_csv(index=False).encode() for s, df in trials.items()}
    out.update({f"compare/{name}": df.to_csv(index=False).encode() for name, df in result.tables.items()})
    return out


# --------------------------------------------------------------------------- canonical order


def test_any_row_order_gives_the_same_table(frame):
    table = Table.of(frame)
    for seed in range(3):
        other = Table.of(_shuffled(frame, seed))
        pd.testing.assert_frame_equal(other.rows, table.rows)
        pd.testing.assert_frame_equal(other.nets, table.nets)
        assert other.space == table.space and other.digest == table.digest and other.archs == table.archs
    # canonical: networks in the space's order (depth, then widths), seeds ascending within each
    assert table.rows["arch"].iloc[[0, 3, 9]].tolist() == ["16", "32", "16-16"]
    assert table.rows["seed"].iloc[:6].tolist() == [0, 1, 2, 0, 1, 2]


def test_a_shuffled_file_gives_byte_identical_searches_and_comparison(tmp_path, frame):
    frame.to_csv(tmp_path / "sorted.csv", index=False)
    _shuffled(frame, 1).to_csv(tmp_path / "shuffled.csv", index=False)
    assert (tmp_path / "sorted.csv").read_bytes() != (tmp_path / "shuffled.csv").read_bytes()
    ours = _search_and_compare_bytes(load_table(tmp_path / "sorted.csv", EXPECTED))
    theirs = _search_and_compare_bytes(load_table(tmp_path / "shuffled.csv", EXPECTED))
    assert ours.keys() == theirs.keys() and len(ours) > 5
    assert [k for k in ours if ours[k] != theirs[k]] == []


# --------------------------------------------------------------------------- the table against the params


def _refusal(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "candidates.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(TableError) as err:
        load_table(path, EXPECTED)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


ALLOWED = (
    "the 12 networks of candidates.layers [1, 2] x candidates.widths [16, 32, 64], each under seeds "
    "0, 1, 2 (seed, candidates.n_seeds) once"
)


def test_a_missing_row_is_named(tmp_path, frame):
    gone = frame[~((frame["arch"] == "32-64") & (frame["seed"] == 1))]
    assert _refusal(tmp_path, gone) == (
        f"no row for network 32-64 seed 1; the params ask for {ALLOWED}; rerun the candidates stage"
    )


def test_a_network_outside_the_space_is_named(tmp_path, frame):
    extra = frame.iloc[[0]].assign(arch="1024", width_1=1024)
    assert _refusal(tmp_path, pd.concat([frame, extra], ignore_index=True)) == (
        f"row {len(frame) + 2}: network 1024 is not in the space; allowed: {ALLOWED}"
    )


def test_a_seed_the_params_do_not_ask_for_is_named(tmp_path, frame):
    copied = frame.iloc[[3]].assign(seed=7)  # network 32, seed 0 copied as seed 7
    assert _refusal(tmp_path, pd.concat([frame, copied], ignore_index=True)) == (
        f"row {len(frame) + 2}: network 32 has seed 7, not one the params ask for; allowed: {ALLOWED}"
    )


def test_a_duplicated_row_is_named(tmp_path, frame):
    assert _refusal(tmp_path, pd.concat([frame, frame.iloc[[4]]], ignore_index=True)) == (
        f"(arch, seed) repeated: row {len(frame) + 2} (arch = '32') seed 1"
    )


def test_more_trials_than_networks_are_refused(frame):
    with pytest.raises(
        TableError,
        match=r"^candidate table: has 12 networks; search.n_trials = 13 asks for more "
        r"trials than networks; allowed: 1\.\.12$",
    ):
        runner.run(_search_params(n_trials=13), "gp_ei", Table.of(frame))


# --------------------------------------------------------------------------- search CSVs and latency rounds


def test_a_trial_edited_away_from_its_table_row_is_refused(tmp_path, frame):
    table = Table.of(frame)
    trials = runner.run(_search_params(), "gp_ei", table).products["trials"]
    path = tmp_path / "gp_ei.csv"
    trials.to_csv(path, index=False)
    assert len(load_trials(path, "gp_ei", 2, 8, table)) == 16
    i = int(np.flatnonzero(trials["state"] == "COMPLETE")[3])
    trials.assign(val_error=trials["val_error"].where(trials.index != i, 0.0)).to_csv(path, index=False)
    with pytest.raises(TrialsError, match=rf"^{path}: row {i + 2}: val_error = 0\.0 but candidate table has "):
        load_trials(path, "gp_ei", 2, 8, table)


def test_latency_rounds_must_be_the_params(tmp_path, frame):
    table = Table.of(frame)
    path = tmp_path / "latency.csv"
    rounds = _rounds(table)
    rounds.to_csv(path, index=False)
    assert sorted(load_latency(path, table.archs, 2)) == ["round1", "round2"]
    rounds[rounds["round"] == 1].to_csv(path, index=False)
    with pytest.raises(
        TrialsError,
        match=r"has rounds \[1\]; search.latency_rounds = 2 asks for rounds 1\.\.2; "
        r"rerun the latency stage$",
    ):
        load_latency(path, table.archs, 2)


# --------------------------------------------------------------------------- the stages refuse in one line


def _workdir(tmp_path, frame: pd.DataFrame) -> dict:
    (tmp_path / "data" / "search").mkdir(parents=True)
    frame.to_csv(tmp_path / "data" / "candidates.csv", index=False)
    return {
        "seed": 0,
        "candidates": CANDIDATES,
        "search": {
            "n_trials": 8,
            "repeats": 2,
            "n_workers": 1,
            "n_bootstrap": 100,
            "strategies": {"random_uniform": {}},
        },
    }


def _refused_in_one_line(tmp_path, stage: str, params: dict, guarded: list[str], *args: str) -> str:
    before = {p: (tmp_path / p).read_bytes() for p in guarded}
    proc = run_stage(stage, tmp_path, params, *args, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert {p: (tmp_path / p).read_bytes() for p in guarded} == before
    return lines[0]


def test_search_stage_refuses_a_table_outside_the_space(tmp_path, frame):
    params = _workdir(tmp_path, pd.concat([frame, frame.iloc[[0]].assign(arch="1024", width_1=1024)]))
    (tmp_path / "data" / "search" / "random_uniform.csv").write_text("earlier results\n")
    line = _refused_in_one_line(tmp_path, "search", params, ["data/search/random_uniform.csv"], "random_uniform")
    assert line == (
        f"error: data/candidates.csv: row {len(frame) + 2}: network 1024 is not in the space; allowed: {ALLOWED}"
    )


def test_search_stage_refuses_more_trials_than_networks(tmp_path, frame):
    params = _workdir(tmp_path, frame)
    params["search"]["n_trials"] = 20
    (tmp_path / "data" / "search" / "random_uniform.csv").write_text("earlier results\n")
    line = _refused_in_one_line(tmp_path, "search", params, ["data/search/random_uniform.csv"], "random_uniform")
    assert line == (
        "error: data/candidates.csv: has 12 networks; search.n_trials = 20 asks for more trials "
        "than networks; allowed: 1..12"
    )


def test_compare_stage_refuses_an_edited_trial(tmp_path, frame):
    params = _workdir(tmp_path, frame)
    table = Table.of(frame)
    _rounds(table).to_csv(tmp_path / "data" / "latency.csv", index=False)
    trials = runner.run(_search_params(strategies={"random_uniform": {}}), "random_uniform", table)
    trials = trials.products["trials"]
    i = int(np.flatnonzero(trials["state"] == "COMPLETE")[5])
    trials.loc[i, "val_error"] = 0.0
    trials.to_csv(tmp_path / "data" / "search" / "random_uniform.csv", index=False)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "search.json").write_text("{}\n")
    line = _refused_in_one_line(tmp_path, "compare", params, ["metrics/search.json"])
    assert line.startswith(
        f"error: data/search/random_uniform.csv: row {i + 2}: val_error = 0.0 but data/candidates.csv has "
    ) and line.endswith("rerun search@random_uniform")
    assert not (tmp_path / "plots").exists()


# --------------------------------------------------------------------------- the table as an Optuna objective


def test_table_objective_draws_stored_seeds_and_fails_failed_rows():
    import optuna

    table = synthetic_table(layers=(1,), widths=(16, 32), n_seeds=3, fail_rate=0.0)
    table.loc[(table["arch"] == "16") & (table["seed"] == 1), ["status", "val_error"]] = ["failed", np.nan]
    nets = network_summary(table)
    assert nets.loc["16", "n_ok"] == 2
    obj = TableObjective(Table.of(table), seed=0, repeat=0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(obj, n_trials=40, catch=(NetworkFailed,))
    for t in study.trials:
        rows = table[(table["arch"] == t.user_attrs["arch"]) & (table["seed"] == t.user_attrs["row_seed"])]
        assert len(rows) == 1
        if t.state.name == "COMPLETE":
            assert t.value == rows["val_error"].item() and t.user_attrs["cost"] == rows["latency_ms"].item()
        else:
            assert rows["status"].item() == "failed"
    assert {t.user_attrs["row_seed"] for t in study.trials} == {0, 1, 2}
    assert any(t.state.name == "FAIL" for t in study.trials)
