"""Process-wide state the samplers touch, handled so that threads cannot corrupt it.

BLAS runs on one thread during a suggestion: the matrices are at most a few
hundred wide, and a multi-threaded BLAS spends more on waking threads than on
the work (measured on a loaded 2-core machine: a 6-D suggestion at 200 trials
took 116 ms with one BLAS thread, 261 ms without the limit).

The limit is reference-counted under a lock: the first suggestion to enter
sets it, the last to leave restores the limits read when this module first
limited anything. Reading the "original" limit at each entry is not enough:
threadpoolctl's context manager, nested from several threads
(``study.optimize(n_jobs=4)``), can read 1 while another thread holds it, and
with OpenBLAS 0.3.31 under four threads we observed a limit of 1 read at a
first entry although every earlier exit had restored 2; either way the
process was left at 1 thread. So the limits to restore are read once, before
any suggestion changed them.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

_lock = threading.Lock()
_depth = 0
_controller: Any = None  # the ThreadpoolController, made by the first block
_original: list[int] = []


@contextlib.contextmanager
def single_threaded_blas():
    global _depth, _controller, _original
    with _lock:
        if _depth == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController()  # enumerating the libraries once costs ~1.5 ms
                _original = [lib.num_threads for lib in _controller.lib_controllers if lib.user_api == "blas"]
            for lib in _blas_libs():
                lib.set_num_threads(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in zip(_blas_libs(), _original):
                    lib.set_num_threads(n)


def _blas_libs():
    return [lib for lib in _controller.lib_controllers if lib.user_api == "blas"]
