"""What every docs-table script formats the same way: a Markdown table, a number, a share, a committed JSON file.

``scripts/docs_tables.py`` and its siblings (``docs_tables_search.py``, ``docs_tables_hpo.py``) import these
by name (``scripts/`` is put on ``sys.path`` by the script that is loaded first), so a number reads the same
on every generated page and a change of format is made once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: ``header``, the separator line, one line per row (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def num(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; a missing value (None, NaN) is written ``NaN``."""
    return "NaN" if pd.isna(x) else f"{x:.{digits}f}"


def bold_best(values: list[float]) -> list[str]:
    """Each of ``values`` as :func:`num` writes it, the lowest in bold (a column's best)."""
    best = np.nanmin(values)
    return [f"**{num(v)}**" if v == best else num(v) for v in values]


def sci(x: float) -> str:
    """Three significant digits at most; below 0.001 as a·10⁻ⁿ, as the pages write small regrets."""
    if x == 0:
        return "0"
    if abs(x) >= 1e-3:
        return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.4f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mantissa}·10{str(int(exponent)).translate(sup)}"


def pct(x: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{100 * x:.1f} %"


def load_json(root: Path, rel: str) -> Any:
    """The committed JSON file ``rel`` under ``root`` (the repository, or a copy the tests plant changes in)."""
    return json.loads((root / rel).read_text())
