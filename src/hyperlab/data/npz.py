"""An ``.npz`` archive read in full and safely: any problem is one line naming the file."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from hyperlab.errors import InputError


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
