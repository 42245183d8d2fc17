"""The checks of ``docs/distributed.md``'s "Speed-up" sentences against the page's own measured table.

Registered by ``tests/test_docs_claims.py`` as :mod:`docs_claims_hpo` is. The speed-up table is a benchmark
(``bench/engine_speedup.py``), not a committed file, so what can be checked is that the sentences drawn from it
say what the table says: the gain range is the table's speed-ups, and the cores kept busy are its CPU seconds
over its wall time. The rest of the page states guarantees the engine's tests hold (``tests/test_engine.py``).
"""

from __future__ import annotations

import re

from docs_claims_hpo import paragraphs
from docs_claims_hpo_scale import Check, _unless

PAGE = "docs/distributed.md"


def _rows(data) -> list[list[str]]:
    """The cells of the speed-up table's rows (``| 1 | 28.8 s | 26.4 s | 1.09 | |``)."""
    text = (data.root / PAGE).read_text().split("## Speed-up", 1)[1]
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in text.splitlines() if re.match(r"\| \d", ln)]


def gain_is_the_tables(data) -> list[str]:
    """Each speed-up is its row's ratio of times, and "2–9 %" is their range."""
    rows = _rows(data)
    ratios = [float(r[1].rstrip(" s")) / float(r[2].rstrip(" s")) for r in rows]
    shown = [float(r[3]) for r in rows]
    out = _unless(len(rows) == 3 and all(f"{a:.2f}" == f"{s:.2f}" for a, s in zip(ratios, shown)), f"{ratios}")
    gains = sorted(round(100 * (s - 1)) for s in shown)
    return out + _unless(bool(gains) and (gains[0], gains[-1]) == (2, 9), f"gains {gains} %")


def cores_busy_is_the_tables(data) -> list[str]:
    """ "1.4 of the 2 cores busy (38.4 CPU seconds in 26.7 s)": the last row's one-worker CPU seconds over its time."""
    last = _rows(data)[-1]
    cpu, wall = float(last[4].split("/")[0]), float(last[1].rstrip(" s"))
    return _unless(f"{cpu / wall:.1f}" == "1.4" and (cpu, wall) == (38.4, 26.7), f"{cpu} CPU s in {wall} s")


CLAIMS: list[tuple[str, str, Check]] = [
    (PAGE, "On 2 cores, two workers gain 2–9 %", gain_is_the_tables),
    (PAGE, "one stage process already keeps 1.4 of the 2 cores busy", cores_busy_is_the_tables),
]

NOT_CLAIMS = {
    "The engine pays off where each worker has cores of its own": "the reason read from the measurement, not a number",
}

SCOPES = {PAGE: lambda text: paragraphs(text, "Speed-up")}
