"""``data/mnist.npz``, the ``data`` stage's product, read back: the six split arrays, checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperlab.data.npz import read_npz
from hyperlab.data.splits import SPLITS, image_hashes
from hyperlab.errors import InputError


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
