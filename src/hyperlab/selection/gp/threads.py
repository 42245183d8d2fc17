"""Process-wide state the samplers touch, handled so that threads cannot corrupt it.

BLAS runs on one thread during a suggestion: the matrices are at most a few
hundred wide, and a multi-threaded BLAS spends more on waking threads than on
the work (measured: a loaded 2-core machine made each GP fit ~8x slower). The
limit is reference-counted under a lock, so overlapping suggestions from
several threads (``study.optimize(n_jobs=4)``) restore the original limit
exactly once, when the last one leaves; ``threadpoolctl``'s own context
manager, nested from several threads, can restore the wrong value.
"""

from __future__ import annotations

import contextlib
import threading

_lock = threading.Lock()
_depth = 0
_limiter = None
_controller = None


@contextlib.contextmanager
def single_threaded_blas():
    global _depth, _limiter, _controller
    with _lock:
        if _depth == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController
                _controller = ThreadpoolController()  # enumerating the libraries once costs ~1.5 ms
            _limiter = _controller.limit(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None
