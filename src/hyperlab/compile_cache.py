"""A persistent JAX compilation cache for stages, tests and benchmarks.

Every new Python process compiles each jitted program from scratch: about
70 s of the ``l2l`` stage, and most of a test run that starts stage
processes, is XLA compilation of programs an earlier process already
compiled. JAX can keep compiled executables on disk, keyed by its own cache
key (the lowered program, the compile options, the backend and the jaxlib
version), so a changed program or a new JAX simply misses the cache.

The cache lives in an ignored folder, never in a DVC output: ``.cache/jax``
at the root of a source checkout, else ``~/.cache/hyperlab/jax`` (or
``$XDG_CACHE_HOME/hyperlab/jax``). ``HYPERLAB_JAX_CACHE`` names another
folder, or ``off`` turns the cache off. A size cap is set so that JAX guards
every read and write with a file lock: two processes may share the folder,
and deleting it only costs the next run its compile time. Results do not
depend on the cache: a cached executable is the one XLA compiled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

#: Names another cache folder, or ``off`` (also ``0``, ``none``, ``false``) to compile from scratch.
ENV = "HYPERLAB_JAX_CACHE"
#: Programs faster to compile than this are not written (reading a tiny entry costs about as much).
MIN_COMPILE_SECONDS = 0.1
#: Least recently used entries are evicted beyond this; a cap also turns on JAX's file lock.
MAX_BYTES = 4 << 30
_OFF = {"off", "0", "none", "false"}


def default_dir() -> Path:
    """``.cache/jax`` in a source checkout (the one ``.gitignore`` ignores), else the user's cache folder."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "dvc.yaml").is_file():
        return root / ".cache" / "jax"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hyperlab" / "jax"


def cache_dir() -> Path | None:
    """The folder :func:`enable` would use, or None when ``HYPERLAB_JAX_CACHE`` turns the cache off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None
    return Path(value).expanduser().resolve() if value else default_dir()


def enable() -> Path | None:
    """Turn the persistent cache on for this process and the processes it starts; return its folder.

    Before JAX is imported this only sets JAX's own environment variables
    (JAX reads them on import, and child processes inherit them), so a stage
    that never uses JAX does not pay for importing it.
    """
    directory = cache_dir()
    if directory is None:
        return None
    settings: dict[str, Any] = {
        "jax_compilation_cache_dir": str(directory),
        "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_SECONDS,
        "jax_compilation_cache_max_size": MAX_BYTES,
    }
    for name, value in settings.items():  # a user's own JAX setting wins
        os.environ.setdefault(name.upper(), str(value))
    if "jax" in sys.modules:
        import jax

        for name, value in settings.items():
            jax.config.update(name, type(value)(os.environ[name.upper()]))
    return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
