"""One look for every method and strategy, the same in every figure family.

A method keeps its colour, marker and line style wherever it is drawn: GP-EI is the same blue in
``search``, ``sampler_bench``, ``hpo`` and ``hpo_scale``; exact reverse mode the same black in
``bilevel``, ``drmad``, ``hpo`` and ``hpo_scale``. Colours are Okabe & Ito's colour-blind-safe
palette (Okabe & Ito 2008, "Color Universal Design"); variants of one model family share its
colour and differ by line style and marker, so no two methods of one figure look alike even
in greyscale. Ordinal series (the hypergradient order n, the number of pieces K) take their
colour from viridis (orders) or plasma (pieces) at a position fixed by the value, not by how many values a figure shows,
so ``online2`` is the same colour in ``hpo`` as order 2 in ``bilevel``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import NamedTuple

#: Okabe & Ito (2008): eight hues distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
GREY = "#7F7F7F"
#: Markers and dashes for the members of an ordinal series, in order.
ORDINAL_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h")
ORDINAL_DASHES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
#: The largest hypergradient order and piece count the ordinal colour scales are laid out for.
MAX_ORDER = 6
MAX_PIECES_LOG2 = 7  # K up to 128 pieces


class Style(NamedTuple):
    """How one method is drawn: ``plot_kwargs`` gives it to ``Axes.plot`` / ``Axes.scatter``."""

    label: str
    color: str
    marker: str
    linestyle: str | tuple

    def plot_kwargs(self, **extra) -> dict:
        """Keywords for ``Axes.plot``; ``extra`` overrides (e.g. ``lw`` or ``markevery``)."""
        return {"color": self.color, "marker": self.marker, "ls": self.linestyle, "label": self.label, **extra}

    def scatter_kwargs(self, **extra) -> dict:
        """Keywords for ``Axes.scatter``: colour, marker and label, no line."""
        return {"color": self.color, "marker": self.marker, "label": self.label, **extra}

    @property
    def key(self) -> tuple:
        """What must differ between two methods of one figure."""
        return (self.color, self.marker, str(self.linestyle))


_C = OKABE_ITO
#: Every fixed-name method and strategy. Model families share a colour: GP blue, TPE orange.
FIXED: dict[str, Style] = {
    # architecture search (selection.names.STRATEGIES) and the search side of hpo / hpo_scale
    "random_uniform": Style("random (uniform over networks)", GREY, "x", "-"),
    "random": Style("random", GREY, "+", "--"),
    "random_layerwise": Style("random (layer-uniform)", _C["black"], "+", "--"),
    "gp_ei": Style("GP-EI", _C["blue"], "o", "-"),
    "gp_ei_per_second": Style("GP-EI per second", _C["blue"], "s", "--"),
    "gp_ei_per_ms_latency": Style("GP-EI per ms of latency", _C["blue"], "D", "-."),
    "gp_ei_constrained": Style("GP-EI, latency-constrained", _C["blue"], "^", ":"),
    "tpe": Style("TPE", _C["orange"], "o", "-"),
    "tpe_per_second": Style("TPE per second", _C["orange"], "s", "--"),
    "tpe_per_ms_latency": Style("TPE per ms of latency", _C["orange"], "D", "-."),
    "tpe_constrained": Style("TPE, latency-constrained", _C["orange"], "^", ":"),
    "motpe": Style("MOTPE", _C["reddish_purple"], "P", "-"),
    "optuna_gp": Style("Optuna GPSampler", _C["sky_blue"], "v", "--"),
    "cmaes": Style("CMA-ES", _C["bluish_green"], "v", "-."),
    "hesbo": Style("GP-EI in a hashing embedding (HeSBO)", _C["blue"], "X", (0, (5, 1))),
    # hypergradient methods (hpo, hpo_scale, drmad, bilevel)
    "exact": Style("exact reverse mode", _C["black"], "o", "-"),
    "drmad": Style("DrMAD (K = 1)", _C["vermillion"], "s", "-"),
    "ift": Style("implicit function theorem", _C["bluish_green"], "D", "-"),
    "hypernet": Style("hypernetwork", _C["reddish_purple"], "h", "--"),
    "central_differences": Style("central differences", GREY, "d", ":"),
    # learning to learn (l2l): tuned baselines and the meta-trained LSTM
    "sgd": Style("SGD", GREY, "x", "-"),
    "adam": Style("Adam", _C["orange"], "s", "-"),
    "rmsprop": Style("RMSprop", _C["bluish_green"], "^", "-"),
    "nag": Style("NAG", _C["blue"], "D", "-"),
    "lstm": Style("LSTM (meta-trained)", _C["vermillion"], "o", "-"),
    "lstm_appendix": Style("LSTM, appendix recipe", _C["vermillion"], "o", "-"),
    "lstm_released": Style("LSTM, released-code recipe", _C["reddish_purple"], "s", "--"),
    # hypernetwork kinds (hypernet)
    "linear": Style("linear hypernetwork", _C["blue"], "o", "-"),
    "mlp": Style("MLP hypernetwork", _C["vermillion"], "s", "--"),
}

_ORDER = re.compile(r"^(?:online|order)(\d+)$")
_PIECES = re.compile(r"^(?:kpiece|K)(\d+)$")
_SEED = re.compile(r"^(.+)_s(\d+)$")


def _ramp(name: str, position: float) -> str:
    """The colour at ``position`` in [0, 1] of a perceptually uniform, colour-blind-safe colormap."""
    import matplotlib

    r, g, b, _ = matplotlib.colormaps[name](min(max(position, 0.0), 1.0))
    return f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}"


def _ordinal(label: str, index: int, position: float) -> Style:
    return Style(
        label,
        _ramp("viridis", position),
        ORDINAL_MARKERS[index % len(ORDINAL_MARKERS)],
        ORDINAL_DASHES[index % len(ORDINAL_DASHES)],
    )


def style(name: str) -> Style:
    """The style of method ``name``; ``KeyError`` naming it when no rule covers it.

    Besides the fixed names: ``online<n>`` / ``order<n>`` (the n-order hypergradient, one style
    for both spellings), ``kpiece<K>`` / ``K<K>`` (K-piece reverse pass; K = 1 is DrMAD) and
    ``<name>_s<seed>`` (one meta-seed of a method: its colour, a marker per seed).
    """
    if name in FIXED:
        return FIXED[name]
    if m := _ORDER.match(name):
        n = int(m.group(1))
        return _ordinal(f"order {n}", n, 0.9 * n / MAX_ORDER)
    if m := _PIECES.match(name):
        k = int(m.group(1))
        if k == 1:
            return FIXED["drmad"]
        i = round(math.log2(k)) if k > 0 else 0
        return Style(
            f"K = {k} pieces",
            _C["vermillion"] if i <= 0 else _ramp("plasma", 0.1 + 0.7 * min(i, MAX_PIECES_LOG2) / MAX_PIECES_LOG2),
            ORDINAL_MARKERS[1 + i % (len(ORDINAL_MARKERS) - 1)],
            ORDINAL_DASHES[1 + i % (len(ORDINAL_DASHES) - 1)],
        )
    if (m := _SEED.match(name)) and m.group(1) in FIXED:
        base, seed = FIXED[m.group(1)], int(m.group(2))
        return base._replace(
            label=f"{base.label}, meta-seed {seed}",
            marker=ORDINAL_MARKERS[(seed + 1) % len(ORDINAL_MARKERS)],
            linestyle=ORDINAL_DASHES[(seed + 1) % len(ORDINAL_DASHES)],
        )
    raise KeyError(f"no plotting style for method {name!r}: add it to hyperlab.plotting.style.FIXED")


def styles(names: Iterable[str]) -> dict[str, Style]:
    """Every method of one figure with its style; ``ValueError`` if two of them would look alike."""
    table = {n: style(n) for n in names}
    seen: dict[tuple, str] = {}
    for name, s in table.items():
        if s.key in seen:
            raise ValueError(f"methods {seen[s.key]!r} and {name!r} would be drawn alike ({s.color}, {s.marker})")
        seen[s.key] = name
    return table


def label(name: str) -> str:
    """The human name of a method, as legends write it."""
    return style(name).label
