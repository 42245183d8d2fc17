"""MNIST sources, IDX parsing, verified download with mirror fallback, stratified splits, the data stage."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import run_stage
from hyperlab import data
from hyperlab.data import sources
from hyperlab.errors import InputError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(rng, n_train=60, n_test=30):
    """Tiny stand-ins for the four files: random digits with balanced labels."""
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": np.arange(n_test) % 10,
    }


def write_idx_folder(folder: Path, arrays: dict, gz: bool = True) -> dict[str, str]:
    """Write the four files; return their MD5s keyed like data.MNIST_FILES."""
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for key, (name, _) in data.MNIST_FILES.items():
        raw = idx_bytes(arrays[key])
        payload = gzip.compress(raw, mtime=0) if gz else raw
        (folder / (name if gz else name.removesuffix(".gz"))).write_bytes(payload)
        digests[key] = data.md5(payload)
    return digests


# --------------------------------------------------------------------------- IDX


def test_parse_idx_roundtrip_raw_and_gzip():
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(array)), array)
    np.testing.assert_array_equal(data.parse_idx(gzip.compress(idx_bytes(array))), array)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-5], "truncated"),
        (lambda b: b + b"\0", "trailing bytes"),
        (lambda b: b"\x01" + b[1:], "bad magic number"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "is not unsigned byte"),
        (lambda b: b[:10], "truncated"),
        (lambda b: b"", "bad magic number"),
    ],
)
def test_parse_idx_rejects_broken_files(mutate, message):
    raw = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(InputError, match=message) as err:
        data.parse_idx(mutate(raw), "broken.idx")
    assert "broken.idx" in str(err.value)


def test_parse_idx_rejects_wrong_dimensions():
    with pytest.raises(InputError, match="1 dimension"):
        data.parse_idx(idx_bytes(np.zeros(5, np.uint8)), "labels", ndim=3)


def test_parse_idx_rejects_corrupt_gzip():
    with pytest.raises(InputError, match="corrupt gzip"):
        data.parse_idx(gzip.compress(idx_bytes(np.zeros(4, np.uint8)))[:-6], "x.gz")


# --------------------------------------------------------------------------- idx_dir


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dir_source(tmp_path, gz):
    arrays = fake_mnist(np.random.default_rng(0))
    write_idx_folder(tmp_path, arrays, gz=gz)
    pools = data.load_idx_dir(tmp_path)
    np.testing.assert_array_equal(pools.train_images, arrays["train_images"])
    np.testing.assert_array_equal(pools.test_labels, arrays["test_labels"])
    assert pools.train_labels.dtype == np.int64


def test_idx_dir_missing_file_named(tmp_path):
    write_idx_folder(tmp_path, fake_mnist(np.random.default_rng(0)))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte"):
        data.load_idx_dir(tmp_path)


def test_idx_dir_mismatched_counts(tmp_path):
    arrays = fake_mnist(np.random.default_rng(0))
    arrays["train_labels"] = arrays["train_labels"][:-1]
    write_idx_folder(tmp_path, arrays)
    with pytest.raises(InputError, match="60 images but 59 labels"):
        data.load_idx_dir(tmp_path)


# --------------------------------------------------------------------------- full (download)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A local http.server on 127.0.0.1 serving ``tmp_path/www``; yields (root, base_url, hits)."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(QuietHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def dead_url() -> str:
    """A loopback URL on which nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def test_full_download_verifies_caches_and_falls_back(http_root, tmp_path, monkeypatch):
    root, base, hits = http_root
    arrays = fake_mnist(np.random.default_rng(1))
    digests = write_idx_folder(root / "good", arrays)
    monkeypatch.setattr(sources, "MNIST_FILES", {k: (n, digests[k]) for k, (n, _) in data.MNIST_FILES.items()})
    cache = tmp_path / "cache"
    mirrors = (dead_url(), f"{base}/good/")
    pools = data.load_full(mirrors, cache, timeout_s=5)
    np.testing.assert_array_equal(pools.test_images, arrays["test_images"])
    assert len(hits) == 4 and sorted(p.name for p in cache.iterdir()) == sorted(n for n, _ in data.MNIST_FILES.values())
    # A rerun downloads nothing.
    data.load_full(mirrors, cache, timeout_s=5)
    assert len(hits) == 4


def test_full_download_rejects_wrong_checksum(http_root, tmp_path, monkeypatch):
    root, base, _ = http_root
    arrays = fake_mnist(np.random.default_rng(2))
    digests = write_idx_folder(root / "good", arrays)
    write_idx_folder(root / "bad", fake_mnist(np.random.default_rng(3)))  # same names, other bytes
    monkeypatch.setattr(sources, "MNIST_FILES", {k: (n, digests[k]) for k, (n, _) in data.MNIST_FILES.items()})
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte.gz: no mirror .* MD5 [0-9a-f]{32} != published"):
        data.load_full((f"{base}/bad/",), cache, timeout_s=5)
    assert not cache.exists() or not any(cache.iterdir())  # never cached
    # With a good mirror behind the corrupted one, the good bytes are used.
    pools = data.load_full((f"{base}/bad/", f"{base}/good/"), cache, timeout_s=5)
    np.testing.assert_array_equal(pools.train_images, arrays["train_images"])


def test_corrupted_cache_is_downloaded_again(http_root, tmp_path, monkeypatch):
    root, base, hits = http_root
    digests = write_idx_folder(root / "good", fake_mnist(np.random.default_rng(4)))
    monkeypatch.setattr(sources, "MNIST_FILES", {k: (n, digests[k]) for k, (n, _) in data.MNIST_FILES.items()})
    cache = tmp_path / "cache"
    data.load_full((f"{base}/good/",), cache, timeout_s=5)
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    data.load_full((f"{base}/good/",), cache, timeout_s=5)
    assert len(hits) == 5


# --------------------------------------------------------------------------- splits


def test_stratified_splits_are_disjoint_proportional_and_seeded():
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    splits = data.stratified_take(labels, [200, 100, 73], np.random.default_rng(5))
    flat = np.concatenate(splits)
    assert len(np.unique(flat)) == len(flat) == 373
    for idx, size in zip(splits, [200, 100, 73]):
        counts = np.bincount(labels[idx], minlength=10)
        assert counts.sum() == size and counts.max() - counts.min() <= 1
    again = data.stratified_take(labels, [200, 100, 73], np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(splits, again))
    other = data.stratified_take(labels, [200, 100, 73], np.random.default_rng(6))
    assert not np.array_equal(splits[0], other[0])


def test_splits_too_large():
    with pytest.raises(InputError, match="ask for 600 digits but the source has only 500"):
        data.stratified_take(np.zeros(500, int), [300, 300], np.random.default_rng(0))


@pytest.mark.slow
def test_bundled_source_is_real_mnist():
    pools = data.load_bundled()
    assert pools.train_images.shape == (5000, 28, 28) and pools.train_images.dtype == np.uint8
    assert np.array_equal(np.bincount(pools.train_labels), np.full(10, 500))
    # Real digits: dark background with bright strokes, not noise.
    assert pools.train_images.max() == 255 and 0.08 < pools.train_images.mean() / 255 < 0.2


# --------------------------------------------------------------------------- stage


@pytest.mark.slow
def test_data_stage_end_to_end(mnist_npz):
    splits = data.load_npz(mnist_npz)
    assert {k: v.shape for k, v in splits.items()} == {
        "x_train": (600, 28, 28),
        "y_train": (600,),
        "x_val": (200, 28, 28),
        "y_val": (200,),
        "x_test": (200, 28, 28),
        "y_test": (200,),
    }
    assert splits["x_train"].dtype == np.uint8 and splits["y_train"].dtype == np.int64
    assert np.array_equal(np.bincount(splits["y_val"]), np.full(10, 20))
    x = data.to_float(splits["x_test"])
    assert x.shape == (200, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1


def test_data_stage_is_deterministic_and_idx_dir_works(tmp_path):
    folder = tmp_path / "idx"
    write_idx_folder(folder, fake_mnist(np.random.default_rng(0), n_train=100, n_test=40), gz=False)
    params = {
        "seed": 3,
        "data": {"source": "idx_dir", "idx_dir": str(folder), "n_train": 50, "n_val": 20, "n_test": 30},
    }
    outputs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        run_stage("data", tmp_path / run, params)
        outputs.append(data.load_npz(tmp_path / run / "data" / "mnist.npz"))
    for key in outputs[0]:
        np.testing.assert_array_equal(outputs[0][key], outputs[1][key])
    assert outputs[0]["x_test"].shape == (30, 28, 28)


@pytest.mark.parametrize(
    "section, fragment",
    [
        ({"n_train": -5}, "data.n_train: got -5; must be >= 10"),
        ({"source": "cifar"}, "data.source: got 'cifar'; allowed: bundled, full, idx_dir"),
        ({"mirrors": ["ftp://x/"]}, "data.mirrors: got ['ftp://x/']; must be http(s):// or file:// URLs"),
        ({"source": "idx_dir"}, "data.idx_dir: empty; must name a folder"),
        (
            {"n_train": 4000, "n_val": 1000, "n_test": 1000},
            "data.n_train + data.n_val + data.n_test: got 4000 + 1000 + 1000 = 6000; must be <= the 5000 digits",
        ),
    ],
)
def test_data_stage_rejects_bad_params_fast(tmp_path, section, fragment):
    proc = run_stage("data", tmp_path, {"seed": 0, "data": section}, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and fragment in lines[-1]
    assert not (tmp_path / "data" / "mnist.npz").exists()


def test_any_stage_rejects_a_bad_value_in_any_section(tmp_path):
    """The first stage dvc runs stops the pipeline, even when the bad key is another stage's."""
    proc = run_stage(
        "data",
        tmp_path,
        {"seed": 0, "data": {"n_train": 50, "n_val": 20, "n_test": 20}, "figures": {"dpi": -1}},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: params.yaml: figures.dpi: got -1; must be >= 30"
    assert not (tmp_path / "data" / "mnist.npz").exists()


def test_split_sizes_beyond_an_idx_source_name_the_keys(tmp_path):
    """idx_dir pools are sized only once read; the error still names the params keys (the stage's check)."""
    from hyperlab.config import ConfigError, check_split_sizes

    digits = fake_mnist(np.random.default_rng(0), n_train=500, n_test=100)  # distinct images: none is dropped
    pools = data.Pools(
        digits["train_images"].astype(np.uint8),
        digits["train_labels"],
        digits["test_images"].astype(np.uint8),
        digits["test_labels"],
    )
    with pytest.raises(
        ConfigError,
        match=r"^params.yaml: data.n_train \+ data.n_val: got 300 \+ 300 = 600; "
        r"must be <= the 500 training digits of the source$",
    ):
        data.make_splits(pools, 300, 300, 50, 0, check_sizes=check_split_sizes)
    with pytest.raises(ConfigError, match=r"data.n_test: got 150; must be <= the 100 test digits"):
        data.make_splits(pools, 300, 100, 150, 0, check_sizes=check_split_sizes)
    assert len(data.make_splits(pools, 300, 100, 50, 0, check_sizes=check_split_sizes)["y_test"]) == 50
    # the data stage passes that check: a one-line error naming the keys, nothing written
    folder = tmp_path / "idx"
    write_idx_folder(folder, fake_mnist(np.random.default_rng(0), n_train=60, n_test=30), gz=False)
    proc = run_stage(
        "data",
        tmp_path,
        {"seed": 0, "data": {"source": "idx_dir", "idx_dir": str(folder), "n_train": 40, "n_val": 10, "n_test": 40}},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: data.n_test: got 40; must be <= the 30 test digits of the source"
    )
    assert not (tmp_path / "data" / "mnist.npz").exists()
