"""The schema of ``params.yaml``: the top-level keys, and every section by its name.

A key missing from ``params.yaml`` takes its default, so ``dvc exp run -S
section.key=value`` works for every key. Every number has both bounds
(``1.0e+300`` is refused, not run).

Each section is a model of its experiment family's module in
:mod:`hyperlab.config.sections`. A new section: its model in that family's
module (a new module for a new family), and one entry in :data:`SECTIONS`
below -- the order of :data:`SECTIONS` is the order sections are validated in.
"""

from pydantic import Field

from hyperlab.config.fields import Int, Section
from hyperlab.config.sections.bilevel import BilevelParams, DrmadParams, HypernetParams
from hyperlab.config.sections.data import DataParams
from hyperlab.config.sections.figures import FiguresParams
from hyperlab.config.sections.hpo import HpoParams, HpoScaleParams, HpoSweepParams
from hyperlab.config.sections.l2l import L2LParams
from hyperlab.config.sections.search import CandidatesParams, SamplerBenchParams, SearchParams

TOP_LEVEL_KEYS = ("seed", "order")  # plus one key per section of SECTIONS


class Common(Section):
    """Top-level keys every stage may read."""

    seed: Int = Field(0, ge=0, lt=2**31)
    order: Int = Field(1, ge=0, le=100)


SECTIONS: dict[str, type[Section]] = {
    "data": DataParams,
    "candidates": CandidatesParams,
    "search": SearchParams,
    "bilevel": BilevelParams,
    "hypernet": HypernetParams,
    "drmad": DrmadParams,
    "l2l": L2LParams,
    "sampler_bench": SamplerBenchParams,
    "hpo": HpoParams,
    "hpo_scale": HpoScaleParams,
    "hpo_sweep": HpoSweepParams,
    "figures": FiguresParams,
}
