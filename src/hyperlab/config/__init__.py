"""Typed, validated view of ``params.yaml``.

The file is read as DVC reads it, with ruamel.yaml (:mod:`.yaml_reader`). Every section is a
frozen pydantic model (:mod:`.schema`); each key's annotation says what is
allowed (:mod:`.fields`). :func:`load_section` turns the raw YAML mapping into
the section, or raises :class:`ConfigError` with one line that names the key,
the bad value and what is allowed (:mod:`.validation`) -- before any stage
does heavy work.

Keys missing from ``params.yaml`` take the schema's default, so
``dvc exp run -S section.key=value`` works for every key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

from hyperlab.config.checks import SOURCE_SIZES, check_split_sizes
from hyperlab.config.fields import ConfigError, Section, describe
from hyperlab.config.schema import SECTIONS, TOP_LEVEL_KEYS, Common
from hyperlab.config.sections.bilevel import BilevelParams, DrmadParams, HypernetParams
from hyperlab.config.sections.data import MNIST_MIRRORS, DataParams
from hyperlab.config.sections.figures import FiguresParams
from hyperlab.config.sections.hpo import HpoParams, HpoScaleParams, HpoSweepParams
from hyperlab.config.sections.l2l import L2LParams
from hyperlab.config.sections.search import (
    DEFAULT_STARTUP_TRIALS,
    CandidatesParams,
    SamplerBenchParams,
    SearchParams,
    StrategyParams,
    check_realizations,
)
from hyperlab.config.validation import parse_section
from hyperlab.config.yaml_reader import PARAMS_FILE, parse_yaml, read_yaml_file
from hyperlab.selection.names import COSTS as SEARCH_COSTS
from hyperlab.selection.names import STRATEGIES as SEARCH_STRATEGIES

#: The repository's own params.yaml (for tests and tools run from elsewhere).
REPO_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"

__all__ = [
    "DEFAULT_STARTUP_TRIALS",
    "MNIST_MIRRORS",
    "PARAMS_FILE",
    "REPO_PARAMS",
    "SEARCH_COSTS",
    "SEARCH_STRATEGIES",
    "SECTIONS",
    "SOURCE_SIZES",
    "TOP_LEVEL_KEYS",
    "BilevelParams",
    "CandidatesParams",
    "Common",
    "ConfigError",
    "DataParams",
    "DrmadParams",
    "FiguresParams",
    "HpoParams",
    "HpoScaleParams",
    "HpoSweepParams",
    "HypernetParams",
    "L2LParams",
    "SamplerBenchParams",
    "SearchParams",
    "Section",
    "StrategyParams",
    "check_split_sizes",
    "check_top_level",
    "describe",
    "load_common",
    "load_section",
    "parse_section",
    "parse_yaml",
    "read_params",
    "split_sizes",
    "validate_all",
    "validate_raw",
]


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    """The whole ``params.yaml`` as a mapping; unknown top-level keys are rejected."""
    return check_top_level(read_yaml_file(path), path)


def check_top_level(raw: Any, path: str | Path = PARAMS_FILE) -> dict:
    """``raw`` if it is a mapping of known top-level keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    allowed = (*TOP_LEVEL_KEYS, *SECTIONS)
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{path}: {key}: unknown top-level key; allowed: {', '.join(allowed)}")
    return raw


def _common(raw: dict) -> Common:
    return parse_section(Common, {k: raw[k] for k in TOP_LEVEL_KEYS if k in raw}, "")


# One overload per section of SECTIONS, so that the type checker knows which model a name loads and
# flags a misspelt key (`load_section("bilevel").n_trails`) before anything runs.
@overload
def load_section(name: Literal["data"], path: str | Path = ...) -> DataParams: ...
@overload
def load_section(name: Literal["candidates"], path: str | Path = ...) -> CandidatesParams: ...
@overload
def load_section(name: Literal["search"], path: str | Path = ...) -> SearchParams: ...
@overload
def load_section(name: Literal["bilevel"], path: str | Path = ...) -> BilevelParams: ...
@overload
def load_section(name: Literal["hypernet"], path: str | Path = ...) -> HypernetParams: ...
@overload
def load_section(name: Literal["drmad"], path: str | Path = ...) -> DrmadParams: ...
@overload
def load_section(name: Literal["l2l"], path: str | Path = ...) -> L2LParams: ...
@overload
def load_section(name: Literal["sampler_bench"], path: str | Path = ...) -> SamplerBenchParams: ...
@overload
def load_section(name: Literal["hpo"], path: str | Path = ...) -> HpoParams: ...
@overload
def load_section(name: Literal["hpo_scale"], path: str | Path = ...) -> HpoScaleParams: ...
@overload
def load_section(name: Literal["hpo_sweep"], path: str | Path = ...) -> HpoSweepParams: ...
@overload
def load_section(name: Literal["figures"], path: str | Path = ...) -> FiguresParams: ...
def load_section(name: str, path: str | Path = PARAMS_FILE) -> Section:
    """Validated section ``name`` of ``params.yaml``, typed as its model (the overloads above)."""
    return parse_section(SECTIONS[name], read_params(path).get(name), name)


def split_sizes(path: str | Path = PARAMS_FILE) -> dict[str, int]:
    """The split sizes ``data`` asks for (split -> n): what every reader of ``data/mnist.npz`` checks it against."""
    p = load_section("data", path)
    return {"train": p.n_train, "val": p.n_val, "test": p.n_test}


def load_common(path: str | Path = PARAMS_FILE) -> Common:
    """Validated top-level ``seed`` and ``order``."""
    return _common(read_params(path))


def validate_all(path: str | Path = PARAMS_FILE) -> None:
    """Validate every section of ``params.yaml`` (cheap: no stage work).

    Every stage calls this first, so a bad value anywhere stops ``dvc repro``
    at the first stage that runs -- within seconds -- instead of after the
    long stages that precede the one that reads it.
    """
    validate_raw(read_params(path), path)


def validate_raw(raw: Any, path: str | Path = PARAMS_FILE) -> None:
    """:func:`validate_all` on an already parsed mapping (the fuzz tests call it in-process)."""
    raw = check_top_level(raw, path)
    common = _common(raw)
    sections = {name: parse_section(cls, raw.get(name), name) for name, cls in SECTIONS.items()}
    check_realizations(sections["search"], sections["candidates"])
    orders = sections["bilevel"].orders
    if common.order not in orders:
        raise ConfigError(
            f"params.yaml: order: got {common.order}; must be one of bilevel.orders ({', '.join(map(str, orders))})"
        )
