"""The fixed-length Optuna encoding of a network of the table, and its canonical form.

Fixed length, so that no relative sampler falls back to independent random
sampling on conditional parameters: ``n_layers`` in ``min..max`` and
``log2_units_l{i}`` for every ``i < L``; widths beyond ``n_layers`` are
ignored by the objective. When the widths are not consecutive powers of two the
width parameters are categorical ``units_l{i}`` instead.

Trials count networks, not encodings: many encodings name one network (a
one-layer network has 36 of them here). :func:`canonical_params` maps any
encoding to the network's *canonical* one (every inactive width at the
smallest value, as if the missing layer were the narrowest), and
:func:`network_params` lists one canonical encoding per network. The GP
samplers take ``canonicalize=canonical_params`` and search the canonical points
only (so each GP dimension stays a real width, and an inactive one is a
constant), the random-over-networks sampler draws among the networks; both
then never repeat a network while an unevaluated one remains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hyperlab.selection.space.architectures import width_columns_of
from hyperlab.training.network import arch_name, parse_arch


@dataclasses.dataclass(frozen=True)
class Space:
    """What the encoding needs of a set of networks: their depths, their widths, the most layers any has."""

    layers: tuple[int, ...]
    widths: tuple[int, ...]
    max_layers: int

    @property
    def log2(self) -> bool:
        """Widths are consecutive powers of two, so ``log2_units`` is an integer range."""
        logs = [math.log2(w) for w in self.widths]
        return all(v.is_integer() for v in logs) and np.array_equal(np.diff(logs), np.ones(len(logs) - 1))


def space_of(table: pd.DataFrame) -> Space:
    """The space of the networks in ``table`` (its depths, widths and width columns)."""
    wcols = width_columns_of(table)
    widths = sorted({int(w) for c in wcols for w in table[c] if w > 0})
    return Space(tuple(sorted({int(n) for n in table["n_layers"]})), tuple(widths), len(wcols))


def suggest_arch(trial, space: Space) -> str:
    """Define the fixed-length encoding on ``trial``; return the network's ``arch`` name."""
    n_layers = trial.suggest_int("n_layers", min(space.layers), max(space.layers))
    widths = []
    for i in range(space.max_layers):
        if space.log2:
            lo, hi = int(math.log2(space.widths[0])), int(math.log2(space.widths[-1]))
            widths.append(2 ** trial.suggest_int(f"log2_units_l{i}", lo, hi))
        else:
            widths.append(int(trial.suggest_categorical(f"units_l{i}", list(space.widths))))
    return arch_name(tuple(widths[:n_layers]))


def _width_params(space: Space) -> list[tuple[str, int]]:
    """(name, canonical value) of every width parameter, in layer order."""
    if space.log2:
        return [(f"log2_units_l{i}", int(math.log2(space.widths[0]))) for i in range(space.max_layers)]
    return [(f"units_l{i}", int(space.widths[0])) for i in range(space.max_layers)]


def canonical_params(trial_params: dict, space: Space) -> dict:
    """``trial_params`` with every width beyond ``n_layers`` set to its canonical (smallest) value.

    Two encodings name the same network exactly when their canonical forms are
    equal. A dict without ``n_layers`` (or a width) is returned unchanged.
    """
    if "n_layers" not in trial_params:
        return dict(trial_params)
    out = dict(trial_params)
    for i, (name, value) in enumerate(_width_params(space)):
        if i >= int(trial_params["n_layers"]) and name in out:
            out[name] = value
    return out


def arch_of_params(trial_params: dict, space: Space) -> str:
    """The ``arch`` name an encoding stands for."""
    n = int(trial_params["n_layers"])
    widths = [
        2 ** int(trial_params[name]) if space.log2 else int(trial_params[name]) for name, _ in _width_params(space)[:n]
    ]
    return arch_name(tuple(widths))


def network_params(space: Space, archs: Sequence[str]) -> list[dict]:
    """The canonical encoding of each network in ``archs`` (names as in the table)."""
    out = []
    names = _width_params(space)
    for arch in archs:
        widths = parse_arch(str(arch))
        trial_params = {"n_layers": len(widths)}
        for i, (name, value) in enumerate(names):
            if i < len(widths):
                trial_params[name] = int(math.log2(widths[i])) if space.log2 else widths[i]
            else:
                trial_params[name] = value
        out.append(trial_params)
    return out
