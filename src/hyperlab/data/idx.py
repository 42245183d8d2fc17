"""The IDX file format of the original MNIST files (LeCun et al.), unsigned bytes only."""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from hyperlab.errors import InputError

_IDX_UBYTE = 0x08


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
