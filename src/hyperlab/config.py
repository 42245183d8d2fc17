"""Typed, validated view of ``params.yaml``.

Every section is a frozen dataclass; each field carries a :func:`spec` that says
what is allowed. :func:`load_section` turns the raw YAML mapping into the
dataclass, or raises :class:`ConfigError` with one line that names the key, the
bad value and what is allowed -- before any stage does heavy work.

Keys missing from ``params.yaml`` take the dataclass default, so
``dvc exp run -S section.key=value`` works for every key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

PARAMS_FILE = Path("params.yaml")
#: The repository's own params.yaml (for tests and tools run from elsewhere).
REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"

TOP_LEVEL_KEYS = (
    "seed", "order", "data", "candidates", "search", "bilevel", "drmad",
    "hypernet", "l2l", "figures",
)


class ConfigError(ValueError):
    """A params problem, stated in one line."""


def spec(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, choices: Sequence[Any] | None = None,
         min_len: int | None = None, check: Callable[[Any], str | None] | None = None,
         default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its allowed values.

    Bounds apply to a number or to every element of a list. ``check`` returns an
    error description (``"must be ..."``) or ``None``.
    """
    meta = dict(ge=ge, gt=gt, le=le, lt=lt, choices=tuple(choices) if choices else None,
                min_len=min_len, check=check)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp)
        return f"a list of {_type_name(inner)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return {int: "integer", float: "number", str: "string", bool: "boolean",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, value converted to ``tp``). bool is never accepted as a number."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, out = _coerce(value, arg)
            if ok:
                return True, out
        return False, None
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, None
        items = [_coerce(v, inner) for v in value]
        if not all(ok for ok, _ in items):
            return False, None
        return True, tuple(v for _, v in items)
    if tp is type(None):
        return value is None, None
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else None
    if tp is str:
        return isinstance(value, str), value
    raise TypeError(f"unsupported params type {tp!r}")


def _range_problem(x: Any, meta: dict) -> str | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    for key, op, word in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"),
                          ("le", float.__le__, "<="), ("lt", float.__lt__, "<")):
        bound = meta.get(key)
        if bound is not None and not op(float(x), float(bound)):
            return f"must be {word} {bound}"
    return None


def _check_value(value: Any, meta: dict) -> str | None:
    choices = meta.get("choices")
    items = value if isinstance(value, tuple) else (value,)
    for x in items:
        if choices is not None and x not in choices:
            return f"allowed: {', '.join(map(str, choices))}"
        problem = _range_problem(x, meta)
        if problem:
            return problem
    if meta.get("min_len") is not None and isinstance(value, tuple) and len(value) < meta["min_len"]:
        return f"must have at least {meta['min_len']} element(s)"
    if meta.get("check") is not None:
        return meta["check"](value)
    return None


def parse_section(cls: type, raw: Any, name: str):
    """Build dataclass ``cls`` from the mapping ``raw`` found at key ``name``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: {name}: got {raw!r}; must be a mapping of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    where = f"{name}." if name else ""
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            raise ConfigError(f"params.yaml: {where}{key}: unknown key; allowed: {', '.join(fields)}")
    values = {}
    for key, field in fields.items():
        if key not in raw:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"params.yaml: {where}{key}: missing; required ({_type_name(hints[key])})")
            continue
        ok, value = _coerce(raw[key], hints[key])
        if not ok:
            raise ConfigError(f"params.yaml: {where}{key}: got {raw[key]!r}; must be {_type_name(hints[key])}")
        problem = _check_value(value, dict(field.metadata))
        if problem:
            raise ConfigError(f"params.yaml: {where}{key}: got {raw[key]!r}; {problem}")
        values[key] = value
    return cls(**values)


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    """The whole ``params.yaml`` as a mapping; unknown top-level keys are rejected."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root, where params.yaml lives")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{path}: {key}: unknown top-level key; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    return raw


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class Common:
    """Top-level keys every stage may read."""
    seed: int = spec(0, ge=0, lt=2**31)
    order: int = spec(1, ge=0)


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _urls(value: tuple[str, ...]) -> str | None:
    bad = [u for u in value if not u.startswith(("http://", "https://", "file://"))]
    return f"must be http(s):// or file:// URLs, not {bad[0]!r}" if bad else None


@dataclasses.dataclass(frozen=True)
class DataParams:
    """``data``: where the MNIST digits come from and how they are split."""
    source: str = spec("bundled", choices=("bundled", "full", "idx_dir"))
    n_train: int = spec(3000, ge=10)
    n_val: int = spec(1000, ge=10)
    n_test: int = spec(1000, ge=10)
    mirrors: tuple[str, ...] = spec(MNIST_MIRRORS, min_len=1, check=_urls)
    cache_dir: str = spec(".cache/mnist")
    idx_dir: str = spec("")
    timeout_s: float = spec(30.0, gt=0)


@dataclasses.dataclass(frozen=True)
class FiguresParams:
    """``figures``: rendering only (never reruns an experiment)."""
    dpi: int = spec(120, ge=30, le=600)
    format: str = spec("png", choices=("png",))
    digits_per_class: int = spec(8, ge=1, le=30)


SECTIONS: dict[str, type] = {
    "data": DataParams,
    "figures": FiguresParams,
}


def load_section(name: str, path: str | Path = PARAMS_FILE):
    """Validated section ``name`` of ``params.yaml``."""
    raw = read_params(path)
    return parse_section(SECTIONS[name], raw.get(name), name)


def load_common(path: str | Path = PARAMS_FILE) -> Common:
    """Validated top-level ``seed`` and ``order``."""
    raw = read_params(path)
    return parse_section(Common, {k: raw[k] for k in ("seed", "order") if k in raw}, "")
