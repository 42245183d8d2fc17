"""How much of each test's time is JAX tracing, lowering and XLA compiling.

    python bench/compile_share.py                                       # the JAX test files' quick tests
    python bench/compile_share.py tests/test_l2l.py tests/test_hpo.py   # any pytest arguments
    python bench/compile_share.py --top 30 tests/                       # the whole suite (about 12 min)

Runs pytest in this process, one worker, with an empty compilation cache
(``HYPERLAB_JAX_CACHE=off``: what a fresh clone pays), and listens to JAX's
own monitoring events (``jax.monitoring``: trace, lowering and backend-compile
durations, each with the program's name). Prints one JSON line with the totals
and the programs that took longest to compile, then the slowest tests with
their shares. Only work in the pytest process is seen: a stage run in a fresh
interpreter, or a worker process, is not. The listener API is public; the event
names are JAX's own strings (as of jax 0.10): a renamed event would read as zero.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import pytest

EVENTS = {
    "trace_s": "/jax/core/compile/jaxpr_trace_duration",
    "lower_s": "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "compile_s": "/jax/core/compile/backend_compile_duration",
}


#: what ``make bench`` runs: the fast tests of the packages that compile most
DEFAULT_FILES = ["tests/test_l2l.py", "tests/test_hpo.py", "tests/test_hpo_scale.py", "tests/test_bilevel_hypergrad.py"]


class CompileShare:
    """A pytest plugin: per test, wall time and the JAX compile events that happened during it."""

    def __init__(self) -> None:
        self.current: collections.Counter = collections.Counter()
        self.programs: collections.Counter = collections.Counter()
        self.counts: collections.Counter = collections.Counter()
        self.tests: list[dict] = []

    def listen(self, event: str, duration: float, **kwargs) -> None:
        for name, key in EVENTS.items():
            if event == key:
                self.current[name] += duration
        if event == EVENTS["compile_s"]:
            self.current["programs"] += 1
            self.programs[kwargs.get("fun_name", "?")] += duration
            self.counts[kwargs.get("fun_name", "?")] += 1

    def pytest_configure(self, config) -> None:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self.listen)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = collections.Counter()
        start = time.perf_counter()
        yield
        self.tests.append({"test": item.nodeid, "wall_s": time.perf_counter() - start, **self.current})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=15, help="how many tests and programs to list")
    args, pytest_args = parser.parse_known_args()
    pytest_args = pytest_args or ["--quick", *DEFAULT_FILES]
    os.environ["HYPERLAB_JAX_CACHE"] = "off"  # read when tests/conftest.py is imported, after this
    share = CompileShare()
    code = pytest.main(["-q", "-p", "no:xdist", "-p", "no:cacheprovider", *pytest_args], plugins=[share])
    total = {k: round(sum(t.get(k, 0) for t in share.tests), 1) for k in ("wall_s", *EVENTS, "programs")}
    slowest = sorted(share.programs.items(), key=lambda kv: -kv[1])[: args.top]
    print(
        json.dumps(
            {
                "bench": "compile_share",
                "tests": len(share.tests),
                **total,
                "load": round(os.getloadavg()[0], 2),
                "programs_by_compile_s": {name: [round(s, 2), share.counts[name]] for name, s in slowest},
            }
        )
    )
    for t in sorted(share.tests, key=lambda t: -t["wall_s"])[: args.top]:
        parts = " ".join(f"{k} {t.get(k, 0):5.1f}" for k in EVENTS)
        print(f"{t['wall_s']:6.1f} s  {parts}  programs {t.get('programs', 0):4d}  {t['test']}", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
