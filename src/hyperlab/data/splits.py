"""Seeded, stratified, disjoint splits of the digits of a source.

Images stay uint8 (0..255) and labels int64; conversion to float happens where
the data is used (:func:`hyperlab.data.splits_file.to_float`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import cast

import numpy as np

from hyperlab.data.sources import Pools
from hyperlab.errors import InputError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


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
    two splits -- a leak that :func:`~hyperlab.data.splits_file.check_splits` refuses in every consumer.
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
