"""The architecture space: ReLU MLPs given by their hidden-layer widths.

A network is a tuple of hidden widths, e.g. ``(64, 32)``; the space holds
every tuple whose length is one of ``candidates.layers`` and whose entries are
taken from ``candidates.widths`` (docs/REFERENCES.md §1, "Search space"). With the
defaults (1, 2, 3 layers; 6 widths) that is 6 + 36 + 216 = 258 networks.

What a single network is (its name, parameter count, FLOPs, seed stream) is
:mod:`hyperlab.training.network`'s; this module holds the space of them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from hyperlab.training.network import Arch


def enumerate_space(layers: Sequence[int], widths: Sequence[int]) -> list[Arch]:
    """Every architecture: by layer count (ascending), then widths in lexicographic order."""
    ws = sorted(set(widths))
    return [arch for n in sorted(set(layers)) for arch in itertools.product(ws, repeat=n)]


def width_columns(max_layers: int) -> list[str]:
    """``["width_1", ..., "width_L"]``."""
    return [f"width_{i + 1}" for i in range(max_layers)]


_WIDTH = re.compile(r"^width_(\d+)$")


def width_columns_of(columns) -> list[str]:
    """The ``width_<i>`` names among ``columns`` (a frame's), in layer order."""
    return sorted((c for c in columns if _WIDTH.match(str(c))), key=lambda c: int(str(c).split("_")[1]))
