"""Every file a stage reads, corrupted several ways: one line naming the file and why, never a traceback or silence.

Each case table maps a case to (a fragment of the message the loader gives for that corruption, the corrupt
bytes), so a file refused for another reason than the case's fails the test.
"""

from __future__ import annotations

import gzip
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import run_stage
from hyperlab import data, io
from hyperlab.cli import InputError
from hyperlab.selection.study.trials import TrialsError, load_trials
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.selection.table.table import Table, load_table
from hyperlab.selection.table.validate import TableError


def _one_line(err: BaseException, path) -> str:
    message = str(err)
    assert "\n" not in message and str(path) in message, message
    return message


def _one_line_for(err: BaseException, path, reason: str) -> None:
    """The error is one line naming ``path`` and giving ``reason`` (a fragment of the message for that corruption)."""
    message = _one_line(err, path)
    assert reason in message, f"expected reason {reason!r} in {message!r}"


def _flip_middle(raw: bytes, at: float = 0.5, n: int = 16) -> bytes:
    i = int(len(raw) * at)
    return raw[:i] + bytes(b ^ 0xA5 for b in raw[i : i + n]) + raw[i + n :]


# --------------------------------------------------------------------------- data/mnist.npz


def _splits(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        f"{k}_{s}": (
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if k == "x" else np.arange(n, dtype=np.int64) % 10
        )
        for s in data.SPLITS
        for k in ("x", "y")
    }


def _npz_bytes(tmp_path, **arrays) -> bytes:
    io.write_npz(tmp_path / "ok.npz", **arrays)
    return (tmp_path / "ok.npz").read_bytes()


def _pickled(tmp_path) -> bytes:
    path = tmp_path / "p.npz"
    np.savez(path, **{**_splits(), "y_train": np.array([1, "a", None], dtype=object)})
    return path.read_bytes()


def _npy(tmp_path) -> bytes:
    np.save(tmp_path / "a.npy", np.zeros(3))
    return (tmp_path / "a.npy").read_bytes()


NPZ_CASES = {
    "empty": ("not an .npz archive (starts with b'')", lambda t: b""),
    "garbage": ("not an .npz archive (starts with b", lambda t: os.urandom(3000)),
    "truncated": (
        "not a readable .npz archive (BadZipFile: File is not a zip file)",
        lambda t: _npz_bytes(t, **_splits())[:1500],
    ),
    "crc": ("not a readable .npz archive (BadZipFile: Bad CRC-32", lambda t: _flip_middle(_npz_bytes(t, **_splits()))),
    "pickled": ("holds pickled (object) data, which is not loaded", _pickled),
    "npy_not_npz": ("not an .npz archive (a single .npy array)", _npy),
    "missing_array": (
        "array 'y_train' missing",
        lambda t: _npz_bytes(t, **{k: v for k, v in _splits().items() if k != "y_train"}),
    ),
    "flat_images": (
        "x_val is uint8 (20, 784); expected uint8 (n, 28, 28)",
        lambda t: _npz_bytes(t, **{**_splits(), "x_val": _splits()["x_val"].reshape(20, 784)}),
    ),
    "float_images": (
        "x_test is float32 (20, 28, 28); expected uint8 (n, 28, 28)",
        lambda t: _npz_bytes(t, **{**_splits(), "x_test": _splits()["x_test"].astype(np.float32)}),
    ),
    "int32_labels": (
        "y_train is int32 (20,); expected int64 (n,)",
        lambda t: _npz_bytes(t, **{**_splits(), "y_train": _splits()["y_train"].astype(np.int32)}),
    ),
    "label_10": (
        "y_val has label 10 outside 0..9",
        lambda t: _npz_bytes(t, **{**_splits(), "y_val": _splits()["y_val"] + 1}),
    ),
    "label_negative": (
        "y_val has label -1 outside 0..9",
        lambda t: _npz_bytes(t, **{**_splits(), "y_val": _splits()["y_val"] - 1}),
    ),
    "length_mismatch": (
        "x_test has 20 images but y_test 19 labels",
        lambda t: _npz_bytes(t, **{**_splits(), "y_test": _splits()["y_test"][:-1]}),
    ),
    "empty_split": (
        "split val is empty",
        lambda t: _npz_bytes(
            t, **{**_splits(), "x_val": np.zeros((0, 28, 28), np.uint8), "y_val": np.zeros(0, np.int64)}
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_corrupt_mnist_npz_is_one_line(tmp_path, case):
    path = tmp_path / "mnist.npz"
    reason, corrupt = NPZ_CASES[case]
    path.write_bytes(corrupt(tmp_path))
    with pytest.raises(InputError) as err:
        data.load_npz(path)
    _one_line_for(err.value, path, reason)


def test_good_npz_loads_and_missing_or_folder_is_one_line(tmp_path):
    io.write_npz(tmp_path / "mnist.npz", **_splits())
    assert sorted(data.load_npz(tmp_path / "mnist.npz")) == sorted(_splits())
    with pytest.raises(InputError, match="not found; run `dvc repro data` first"):
        data.load_npz(tmp_path / "none.npz")
    with pytest.raises(InputError, match="not a file"):
        data.load_npz(tmp_path)


# --------------------------------------------------------------------------- splits: disjoint, of the asked sizes


def _leaked(split: str, into: str, n: int = 5) -> dict[str, np.ndarray]:
    """The splits with the first ``n`` images of ``into`` copied over the first ``n`` of ``split``."""
    arrays = _splits()
    arrays[f"x_{split}"] = np.concatenate([arrays[f"x_{into}"][:n], arrays[f"x_{split}"][n:]])
    return arrays


@pytest.mark.parametrize("split, into", [("val", "train"), ("test", "train"), ("test", "val")])
def test_an_image_in_two_splits_is_refused(tmp_path, split, into):
    path = tmp_path / "mnist.npz"
    io.write_npz(path, **_leaked(split, into))
    with pytest.raises(InputError) as err:
        data.load_npz(path)
    assert _one_line(err.value, path) == (
        f"{path}: 5 image(s) of split {split} are also in split {into} (same pixels); the splits must be disjoint, "
        f"else {split} results are optimistic; rerun the data stage: dvc repro data"
    )


def test_repeats_inside_one_split_are_no_leak(tmp_path):
    arrays = _splits()
    arrays["x_train"][1] = arrays["x_train"][0]
    io.write_npz(tmp_path / "mnist.npz", **arrays)
    assert len(data.load_npz(tmp_path / "mnist.npz")["x_train"]) == 20


@pytest.mark.parametrize("split", data.SPLITS)
def test_a_split_of_another_size_than_params_ask_is_refused(tmp_path, split):
    path = tmp_path / "mnist.npz"
    io.write_npz(path, **_splits())
    sizes = {"train": 20, "val": 20, "test": 20, split: 1000}
    with pytest.raises(InputError) as err:
        data.load_npz(path, sizes)
    assert _one_line(err.value, path) == (
        f"{path}: split {split} has 20 digits but params.yaml asks for "
        f"data.n_{split} = 1000; rerun the data stage: dvc repro data"
    )
    assert len(data.load_npz(path, {"train": 20, "val": 20, "test": 20})["y_val"]) == 20


def test_the_real_leak_is_refused(tmp_path, mnist_npz):
    """A bundled mnist.npz whose validation split is the first training digits (the leak's probe)."""
    arrays = data.load_npz(mnist_npz, {"train": 600, "val": 200, "test": 200})
    arrays["x_val"], arrays["y_val"] = arrays["x_train"][:200], arrays["y_train"][:200]
    io.write_npz(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(InputError, match="200 image.s. of split val are also in split train"):
        data.load_npz(tmp_path / "mnist.npz", {"train": 600, "val": 200, "test": 200})


def test_splits_never_share_an_image_even_when_the_source_repeats_one():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    images[100:] = images[:100]  # every image twice
    pools = data.Pools(images, np.arange(200, dtype=np.int64) % 10)
    splits = data.make_splits(pools, 60, 20, 20, seed=0)
    data.check_disjoint(splits, "made")
    assert len(data.drop_repeated_images(pools).train_images) == 100


@pytest.mark.slow
def test_the_bundled_digits_have_no_repeat_so_their_splits_are_unchanged():
    pools = data.load_bundled()
    assert data.drop_repeated_images(pools) is pools


# --------------------------------------------------------------------------- IDX files


def _idx(labels: np.ndarray) -> bytes:
    return b"\x00\x00\x08\x01" + len(labels).to_bytes(4, "big") + labels.astype(np.uint8).tobytes()


_CUT_SHORT = "corrupt gzip stream (Compressed file ended before the end-of-stream marker was reached)"


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (lambda gz: _flip_middle(gz, 0.5, 8), "corrupt gzip stream (CRC check failed)"),  # deflate body decodes wrong
        (lambda gz: gz[: len(gz) // 2], _CUT_SHORT),  # cut short: EOFError
        (lambda gz: gz[:-8] + b"\x00" * 8, "corrupt gzip stream (CRC check failed)"),  # CRC / length trailer
        (lambda gz: gz[:10], _CUT_SHORT),  # header only
    ],
)
def test_corrupt_gzip_idx_is_one_line(corrupt, reason):
    raw = gzip.compress(_idx(np.random.default_rng(0).integers(0, 10, 5000)), mtime=0)
    with pytest.raises(InputError) as err:
        data.parse_idx(corrupt(raw), "train-labels-idx1-ubyte.gz", ndim=1)
    _one_line_for(err.value, "train-labels-idx1-ubyte.gz", reason)


# --------------------------------------------------------------------------- data/candidates.csv


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table(layers=(1, 2, 3), widths=(16, 32), n_seeds=2, fail_rate=0.0)


def _edit(frame: pd.DataFrame, row: int, col: str, value) -> pd.DataFrame:
    out = frame.copy().astype({col: object})
    out.loc[row, col] = value
    return out


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _three_layer_row(t: pd.DataFrame) -> int:
    return int(np.flatnonzero(t["n_layers"].to_numpy() == 3)[0])


TABLE_CASES = {
    "empty": ("empty file", lambda t: b""),
    "header_only": ("has no rows", lambda t: _csv(t.iloc[:0])),
    "garbage": ("not a readable CSV table", lambda t: os.urandom(2000)),
    "truncated": ("status must be ok/failed; row 15 (status = nan)", lambda t: _csv(t)[: len(_csv(t)) // 2]),
    "missing_val_error": ("lacks column(s) ['val_error']", lambda t: _csv(t.drop(columns="val_error"))),
    "dropped_width_3": (
        "n_layers must be 1..2, as there are width_1..width_2 columns (one dropped?)",
        lambda t: _csv(t.drop(columns="width_3")),
    ),
    "dropped_width_2": (
        "width columns ['width_1', 'width_3'] are not width_1..width_2",
        lambda t: _csv(t.drop(columns="width_2")),
    ),
    "text_val_error": (
        "column val_error must hold numbers; row 5 (val_error = 'abc')",
        lambda t: _csv(_edit(t, 3, "val_error", "abc")),
    ),
    "text_latency": (
        "column latency_ms must hold numbers; row 5 (latency_ms = 'fast')",
        lambda t: _csv(_edit(t, 3, "latency_ms", "fast")),
    ),
    "text_width": (
        "column width_1 must hold numbers; row 5 (width_1 = 'x')",
        lambda t: _csv(_edit(t, 3, "width_1", "x")),
    ),
    "float_seed": ("column seed must hold whole numbers", lambda t: _csv(_edit(t, 3, "seed", 0.5))),
    "inf_val_error": (
        "an ok row must have val_error a finite number in 0..1; row 5 (val_error = inf)",
        lambda t: _csv(_edit(t, 3, "val_error", np.inf)),
    ),
    "nan_val_error_ok_row": (
        "an ok row must have val_error a finite number in 0..1; row 5 (val_error = nan)",
        lambda t: _csv(_edit(t, 3, "val_error", np.nan)),
    ),
    "val_error_above_1": (
        "an ok row must have val_error a finite number in 0..1; row 5 (val_error = 1.5)",
        lambda t: _csv(_edit(t, 3, "val_error", 1.5)),
    ),
    "negative_latency": (
        "an ok row must have latency_ms a finite number > 0; row 5 (latency_ms = -0.2)",
        lambda t: _csv(_edit(t, 3, "latency_ms", -0.2)),
    ),
    "zero_latency": (
        "an ok row must have latency_ms a finite number > 0; row 5 (latency_ms = 0.0)",
        lambda t: _csv(_edit(t, 3, "latency_ms", 0.0)),
    ),
    "negative_train_seconds": (
        "an ok row must have train_seconds a finite number > 0; row 5 (train_seconds = -1.0)",
        lambda t: _csv(_edit(t, 3, "train_seconds", -1.0)),
    ),
    "duplicated_row": ("(arch, seed) repeated: row 30", lambda t: _csv(pd.concat([t, t.iloc[[5]]], ignore_index=True))),
    "arch_contradicts_widths": (
        "contradicts n_layers 3 and widths",
        lambda t: _csv(
            _edit(
                t,
                _three_layer_row(t),
                "arch",
                "16-16-16" if t["arch"].iloc[_three_layer_row(t)] != "16-16-16" else "32-32-32",
            )
        ),
    ),
    "width_beyond_depth": (
        "row 2: arch '16' contradicts n_layers 1 and widths [16, 0, 16]",
        lambda t: _csv(_edit(t, 0, "width_3", 16)),
    ),
    "n_layers_too_deep": (
        "n_layers must be 1..3, as there are width_1..width_3 columns (one dropped?); row 2 (n_layers = 4)",
        lambda t: _csv(_edit(t, 0, "n_layers", 4)),
    ),
    "bad_status": (
        "status must be ok/failed; row 2 (status = 'maybe')",
        lambda t: _csv(_edit(t, 0, "status", "maybe")),
    ),
    "all_failed": ("every row failed", lambda t: _csv(t.assign(status="failed"))),
    "n_params_differ_per_seed": (
        "network 16 has different n_params on different rows",
        lambda t: _csv(_edit(t, 1, "n_params", int(t["n_params"].iloc[1]) + 1)),
    ),
}


@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_corrupt_candidate_table_is_one_line(tmp_path, table, case):
    path = tmp_path / "candidates.csv"
    reason, corrupt = TABLE_CASES[case]
    path.write_bytes(corrupt(table))
    with pytest.raises(TableError) as err:
        load_table(path)
    _one_line_for(err.value, path, reason)


def test_good_candidate_table_loads_unchanged(tmp_path, table):
    path = tmp_path / "candidates.csv"
    path.write_bytes(_csv(table))
    pd.testing.assert_frame_equal(load_table(path).rows, table.assign(arch=table["arch"].astype(str)))
    failed = _edit(_edit(table, 2, "status", "failed"), 2, "val_error", np.nan)
    path.write_bytes(_csv(failed))
    assert load_table(path).rows["status"].tolist().count("failed") == 1  # failed rows may lack errors


# --------------------------------------------------------------------------- data/l2l/lstm.npz


@pytest.fixture(scope="module")
def lstm_arrays() -> dict:
    import jax

    from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_phi, weights_to_arrays

    cfg = LSTMConfig(hidden=4, layers=2)
    stacked = jax.vmap(lambda k: init_phi(k, cfg))(jax.random.split(jax.random.key(0), 2))
    extra = {"meta_seeds": np.asarray([0, 1]), "recipe": np.asarray("released"), "meta_updates": np.asarray(300)}
    return {**weights_to_arrays(stacked, cfg), **extra}


def _weights(arrays, tmp_path, **changes) -> bytes:
    out = {k: v for k, v in {**arrays, **changes}.items() if v is not None}
    return _npz_bytes(tmp_path, **out)


def _a_kernel(arrays) -> str:
    return next(k for k in arrays if k.startswith("params/") and k.endswith("kernel"))


WEIGHT_CASES = {
    "garbage": ("not an .npz archive (starts with b", lambda a, t: os.urandom(1000)),
    "truncated": (
        "not a readable .npz archive (BadZipFile: File is not a zip file)",
        lambda a, t: _weights(a, t)[:800],
    ),
    "crc": (
        "not a readable .npz archive (BadZipFile: ",  # which zip check trips depends on where the flip lands
        lambda a, t: _flip_middle(_weights(a, t), 0.3),
    ),
    "missing_array": (
        "arrays do not match an LSTM of hidden 4, layers 2 (params/lstm0/hf/kernel missing)",
        lambda a, t: _weights(a, t, **{_a_kernel(a): None}),
    ),
    "extra_array": (
        "arrays do not match an LSTM of hidden 4, layers 2 (params/lstm9/hi/kernel unexpected)",
        lambda a, t: _weights(a, t, **{"params/lstm9/hi/kernel": np.zeros((2, 2), np.float32)}),
    ),
    "wrong_shape": (
        "params/lstm0/hf/kernel is float32 (3, 3); expected float32 (2, 4, 4)",
        lambda a, t: _weights(a, t, **{_a_kernel(a): np.zeros((3, 3), np.float32)}),
    ),
    "float64": (
        "params/lstm0/hf/kernel is float64 (2, 4, 4); expected float32 (2, 4, 4)",
        lambda a, t: _weights(a, t, **{_a_kernel(a): a[_a_kernel(a)].astype(np.float64)}),
    ),
    "nan": (
        "params/lstm0/hf/kernel has non-finite values",
        lambda a, t: _weights(a, t, **{_a_kernel(a): np.full_like(a[_a_kernel(a)], np.nan)}),
    ),
    "no_config": (
        "config/hidden missing or not a number scalar",
        lambda a, t: _weights(a, t, **{"config/hidden": None}),
    ),
    "hidden_mismatch": (
        "expected float32 (2, 5) (2 meta-seeds)",
        lambda a, t: _weights(a, t, **{"config/hidden": np.asarray(5)}),
    ),
    "layers_zero": (
        "config/layers = 0 is out of range",
        lambda a, t: _weights(a, t, **{"config/layers": np.asarray(0)}),
    ),
    "scale_inf": (
        "config/scale = inf is out of range",
        lambda a, t: _weights(a, t, **{"config/scale": np.asarray(np.inf)}),
    ),
    "config_array": (
        "config/p missing or not a number scalar",
        lambda a, t: _weights(a, t, **{"config/p": np.ones(3)}),
    ),
    "no_meta_seeds": ("meta_seeds missing or not distinct integers", lambda a, t: _weights(a, t, meta_seeds=None)),
    "repeated_meta_seeds": (
        "meta_seeds missing or not distinct integers",
        lambda a, t: _weights(a, t, meta_seeds=np.asarray([1, 1])),
    ),
    "seed_count_mismatch": (
        "meta_seeds [0, 1, 2] differ from [0, 1] (seed .. seed + l2l.meta_seeds - 1)",
        lambda a, t: _weights(a, t, meta_seeds=np.asarray([0, 1, 2])),
    ),
    "other_meta_seeds": (
        "meta_seeds [3, 4] differ from [0, 1]",
        lambda a, t: _weights(a, t, meta_seeds=np.asarray([3, 4])),
    ),
    "no_recipe": ("recipe missing or not one of appendix, released", lambda a, t: _weights(a, t, recipe=None)),
    "unknown_recipe": (
        "recipe missing or not one of appendix, released",
        lambda a, t: _weights(a, t, recipe=np.asarray("adam")),
    ),
    "zero_meta_updates": (
        "meta_updates missing or not a positive integer",
        lambda a, t: _weights(a, t, meta_updates=np.asarray(0)),
    ),
    "unknown_preprocessing": (
        "config/preprocess missing or not one of appendix, log_and_sign",
        lambda a, t: _weights(a, t, **{"config/preprocess": np.asarray("sign")}),
    ),
    "unstacked": (
        "params/lstm0/hf/kernel is float32 (4, 4); expected float32 (2, 4, 4) (2 meta-seeds)",
        lambda a, t: _weights(a, t, **{_a_kernel(a): a[_a_kernel(a)][0]}),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_corrupt_lstm_weights_are_one_line(tmp_path, lstm_arrays, case):
    from hyperlab.l2l.weights import load_weights

    path = tmp_path / "lstm.npz"
    reason, corrupt = WEIGHT_CASES[case]
    path.write_bytes(corrupt(lstm_arrays, tmp_path))
    with pytest.raises(InputError) as err:
        load_weights(path, [0, 1])
    _one_line_for(err.value, path, reason)


@pytest.mark.slow
def test_good_lstm_weights_roundtrip(tmp_path, lstm_arrays):
    import jax

    from hyperlab.l2l.weights import load_weights

    path = tmp_path / "lstm.npz"
    path.write_bytes(_weights(lstm_arrays, tmp_path))
    weights = load_weights(path, [0, 1])
    assert weights.cfg.hidden == 4 and weights.cfg.layers == 2 and weights.meta_seeds == [0, 1]
    assert (weights.recipe, weights.meta_updates) == ("released", 300)
    assert all(a.shape[0] == 2 for a in jax.tree_util.tree_leaves(weights.phi))
    with pytest.raises(InputError, match="not found; run `dvc repro l2l_train`"):
        load_weights(tmp_path / "none.npz", [0, 1])


# --------------------------------------------------------------------------- data/search/<strategy>.csv


@pytest.fixture(scope="module")
def trials(table) -> pd.DataFrame:
    """Two repeats of three trials, each COMPLETE one holding the values of the table row it names."""
    archs = sorted(set(table["arch"]))
    drawn = table.set_index(["arch", "seed"])
    rows = []
    for r in range(2):
        for t in range(3):
            arch, failed = archs[(r + t) % len(archs)], (r, t) == (1, 2)
            row = drawn.loc[(arch, t % 2)]
            rows.append(
                {
                    "strategy": "tpe",
                    "repeat": r,
                    "trial": t,
                    "number": t,
                    "worker": 0,
                    "state": "FAIL" if failed else "COMPLETE",
                    "arch": arch,
                    "row_seed": t % 2,
                    **{c: np.nan if failed else row[c] for c in ("val_error", "latency_ms", "test_error")},
                    "cost": 0.0 if failed else row["latency_ms"],
                    "train_seconds": 0.0 if failed else row["train_seconds"],
                }
            )
    return pd.DataFrame(rows)


TRIAL_CASES = {
    "empty": ("empty file", lambda f: b""),
    "garbage": ("not a readable CSV table", lambda f: os.urandom(1500)),
    "missing_column": ("lacks column(s) ['cost']", lambda f: _csv(f.drop(columns="cost"))),
    "text_cost": ("column cost must hold numbers", lambda f: _csv(_edit(f, 0, "cost", "cheap"))),
    "missing_repeat": ("has 1 repeats of [3] trials (3 rows), params ask 2 x 3", lambda f: _csv(f[f["repeat"] == 0])),
    "duplicated_trial": (
        "has 2 repeats of [2, 3] trials (6 rows), params ask 2 x 3",
        lambda f: _csv(_edit(f, 1, "trial", 0)),
    ),
    "extra_trial": (
        "has 2 repeats of [3, 4] trials (7 rows), params ask 2 x 3",
        lambda f: _csv(pd.concat([f, f.iloc[[0]].assign(trial=3)], ignore_index=True)),
    ),
    "inf_val_error": (
        "row 2: a COMPLETE trial has val_error = np.float64(inf); must be finite, 0..1",
        lambda f: _csv(_edit(f, 0, "val_error", np.inf)),
    ),
    "negative_latency": (
        "row 2: a COMPLETE trial has latency_ms = np.float64(-1.0); must be finite, 0..inf",
        lambda f: _csv(_edit(f, 0, "latency_ms", -1.0)),
    ),
    "bad_state": (
        "state 'RUNNING' is not one of COMPLETE, FAIL, PRUNED",
        lambda f: _csv(_edit(f, 0, "state", "RUNNING")),
    ),
    "unknown_arch": (
        "row 2: network 999 seed 0 is not an ok row of candidate table",
        lambda f: _csv(_edit(f, 0, "arch", "999")),
    ),
    "other_strategy": (
        "holds trials of strategy 'random', expected 'tpe'",
        lambda f: _csv(f.assign(strategy="random")),
    ),
    "float_trial": ("column trial must hold whole numbers on every row", lambda f: _csv(_edit(f, 0, "trial", 0.5))),
    "val_error_not_the_tables": (
        "row 2: val_error = 0.0 but candidate table has",
        lambda f: _csv(_edit(f, 0, "val_error", 0.0)),
    ),
    "latency_not_the_tables": (
        "row 3: latency_ms = 0.0674",
        lambda f: _csv(_edit(f, 1, "latency_ms", f["latency_ms"].iloc[1] * 1.5)),
    ),
    "train_seconds_not_the_tables": (
        "row 3: train_seconds = 9.0 but candidate table has",
        lambda f: _csv(_edit(f, 1, "train_seconds", 9.0)),
    ),
    "seed_not_in_the_table": (
        "row 2: network 16 seed 7 is not an ok row of candidate table",
        lambda f: _csv(_edit(f, 0, "row_seed", 7)),
    ),
    "missing_row_seed": ("lacks column(s) ['row_seed']", lambda f: _csv(f.drop(columns="row_seed"))),
}


@pytest.mark.parametrize("case", sorted(TRIAL_CASES))
def test_corrupt_search_csv_is_one_line(tmp_path, table, trials, case):
    path = tmp_path / "tpe.csv"
    reason, corrupt = TRIAL_CASES[case]
    path.write_bytes(corrupt(trials))
    with pytest.raises(TrialsError) as err:
        load_trials(path, "tpe", 2, 3, Table.of(table))
    _one_line_for(err.value, path, reason)


def test_good_search_csv_loads(tmp_path, table, trials):
    path = tmp_path / "tpe.csv"
    path.write_bytes(_csv(trials))
    assert len(load_trials(path, "tpe", 2, 3, Table.of(table))) == 6
    with pytest.raises(TrialsError, match="params ask 3 x 3"):
        load_trials(path, "tpe", 3, 3, Table.of(table))


def test_a_trial_that_is_not_its_table_row_is_named(tmp_path, table, trials):
    path = tmp_path / "tpe.csv"
    path.write_bytes(TRIAL_CASES["val_error_not_the_tables"][1](trials))
    with pytest.raises(TrialsError) as err:
        load_trials(path, "tpe", 2, 3, Table.of(table))
    arch = trials["arch"].iloc[0]
    want = float(table.set_index(["arch", "seed"]).loc[(arch, 0), "val_error"])
    assert _one_line(err.value, path) == (
        f"{path}: row 2: val_error = 0.0 but candidate table has {want!r} for "
        f"network {arch} seed 0; a trial holds its table row's values; "
        f"rerun search@tpe"
    )


# --------------------------------------------------------------------------- end to end


def _stage(stage: str, cwd, *args) -> subprocess.CompletedProcess:
    return run_stage(stage, cwd, None, *args, check=False)


@pytest.mark.parametrize(
    "stage, path, payload",
    [
        ("candidates", "data/mnist.npz", lambda t: NPZ_CASES["pickled"][1](t)),
        ("l2l_train", "data/mnist.npz", lambda t: NPZ_CASES["crc"][1](t)),
        (
            "search",
            "data/candidates.csv",
            lambda t: TABLE_CASES["dropped_width_3"][1](
                synthetic_table(layers=(1, 2, 3), widths=(16, 32), n_seeds=2, fail_rate=0.0)
            ),
        ),
        (
            "compare",
            "data/candidates.csv",
            lambda t: TABLE_CASES["inf_val_error"][1](
                synthetic_table(layers=(1, 2, 3), widths=(16, 32), n_seeds=2, fail_rate=0.0)
            ),
        ),
    ],
)
def test_stage_on_a_corrupt_input_is_one_line_and_writes_nothing(tmp_path, stage, path, payload):
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_bytes(payload(tmp_path))
    before = sorted(p for p in tmp_path.rglob("*"))
    proc = _stage(stage, tmp_path, *(["tpe"] if stage == "search" else []))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert sorted(p for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "stage, arrays, line",
    [
        (
            "candidates",
            lambda: _leaked("val", "train"),
            "error: data/mnist.npz: 5 image(s) of split val are also in split train (same pixels); the splits must be "
            "disjoint, else val results are optimistic; rerun the data stage: dvc repro data",
        ),
        (
            "hpo",
            _splits,  # 20 per split, params ask for the defaults
            "error: data/mnist.npz: split train has 20 digits but params.yaml asks for data.n_train = 3000; rerun the "
            "data stage: dvc repro data",
        ),
    ],
)
def test_stage_on_leaked_or_resized_splits_is_one_line_and_writes_nothing(tmp_path, stage, arrays, line):
    sizes = "data: {n_train: 20, n_val: 20, n_test: 20}\n" if stage == "candidates" else ""  # hpo: the defaults
    (tmp_path / "params.yaml").write_text("seed: 0\n" + sizes)
    io.write_npz(tmp_path / "data" / "mnist.npz", **arrays())
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    proc = _stage(stage, tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [line], proc.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
