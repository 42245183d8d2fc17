"""The value types of ``params.yaml`` as pydantic annotations, and what a field allows.

Strict on purpose: YAML already gives numbers, strings and booleans their
types, so no value is converted from another kind -- ``"3"`` is not 3, ``true``
is not 1, ``2.5`` is not an integer -- except an integer where a float is
asked for (``timeout_s: 30``). Floats must be finite. A YAML list becomes a
tuple, so a section stays frozen all the way down.

:func:`describe` reads a field back (its scalar types, bounds, choices): the
error messages, the fuzz tests and the docs parameter-table check all read the schema this
way, so none of them keeps its own copy of it.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, cast

# pydantic looks up third-party plugins through importlib.metadata on its first model (≈ 0.35 s of every
# stage's start-up); our schema uses none. An explicit setting in the environment still wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Strict, model_validator
from pydantic.fields import FieldInfo


class ConfigError(ValueError):
    """A params problem, stated in one line."""


Int = Annotated[int, Strict()]  # bool, 2.5 and "3" refused
Number = Annotated[float, Strict(), AllowInfNan(False)]  # an int is taken (as float); nan, inf refused
Text = Annotated[str, Strict()]
Flag = Annotated[bool, Strict()]  # 1 and "yes" refused


def _tuple_from_list(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


T = TypeVar("T")
#: A YAML list, as a tuple (only a list or a tuple is taken, not a set or a mapping).
List = Annotated[tuple[T, ...], BeforeValidator(_tuple_from_list), Strict()]


def _distinct(value: tuple) -> tuple:
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a value")
    return value


#: A list whose elements must not repeat.
Distinct = Annotated[List[T], AfterValidator(_distinct)]


def check(problem: typing.Callable[[Any], str | None]) -> AfterValidator:
    """A field check from ``problem(value)``: a description (``"must be ..."``) of what is wrong, or None."""

    def validate(value):
        message = problem(value)
        if message:
            raise ValueError(message)
        return value

    return AfterValidator(validate)


class Section(BaseModel):
    """A frozen section of ``params.yaml``: unknown keys refused, an empty (``null``) section is all defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, raw: Any) -> Any:
        return {} if raw is None else raw


# --------------------------------------------------------------------------- reading the schema back

_TYPE_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}


def strip(tp: Any) -> tuple[Any, list]:
    """(``tp`` without ``Annotated``, its metadata: each ``Field(...)`` opened into its constraints)."""
    meta: list = []
    while typing.get_origin(tp) is Annotated:
        tp, *more = typing.get_args(tp)
        meta = more + meta
    flat: list = []
    for m in meta:
        flat += m.metadata if isinstance(m, FieldInfo) else [m]
    return tp, flat


def branches(tp: Any) -> tuple:
    """The members of a union (``float | tuple[float, ...]``), else ``(tp,)``."""
    bare, _ = strip(tp)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        return typing.get_args(bare)
    return (tp,)


def is_list(tp: Any) -> bool:
    return typing.get_origin(strip(tp)[0]) is tuple


def item(tp: Any) -> Any:
    """The element type of a list type."""
    return typing.get_args(strip(tp)[0])[0]


def type_name(tp: Any) -> str:
    """``"integer"``, ``"a list of number"``, ``"string or null"``: what a wrong-typed value is told."""
    options = branches(tp)
    if len(options) > 1:
        return " or ".join(type_name(a) for a in options)
    bare, _ = strip(tp)
    if is_list(bare):
        return f"a list of {type_name(item(bare))}"
    if typing.get_origin(bare) is Literal:
        return type_name(type(typing.get_args(bare)[0]))
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return "a mapping of keys"
    if typing.get_origin(bare) is dict:
        return "a mapping"
    return _TYPE_NAMES.get(bare, getattr(bare, "__name__", str(bare)))


def choices(tp: Any) -> tuple | None:
    """The allowed values of a ``Literal`` (or of a list / dict key / union member of one), else None."""
    for option in branches(tp):
        bare, _ = strip(option)
        if typing.get_origin(bare) is Literal:
            return typing.get_args(bare)
        if is_list(bare):
            return choices(item(bare))
        if typing.get_origin(bare) is dict:
            return choices(typing.get_args(bare)[0])
    return None


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What one key of a section allows, read from its annotation."""

    annotation: Any
    default: Any
    scalars: frozenset  # the scalar types a value (or each element) may have
    is_list: bool  # every accepted form is a list
    bounds: dict  # ge / gt / le / lt of a number or of each element
    choices: tuple | None
    min_len: int | None
    nested: type | None  # a section-typed key (or a mapping of names to sections): that section


def describe(cls: type[BaseModel], name: str) -> FieldSpec:
    """:class:`FieldSpec` of key ``name`` of section ``cls``."""
    info = cls.model_fields[name]
    tp = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    scalars, bounds, min_len, nested = set(), {}, None, None

    def visit(t: Any) -> None:
        nonlocal min_len, nested
        bare, meta = strip(t)
        for m in meta:
            for key in ("ge", "gt", "le", "lt"):
                if getattr(m, key, None) is not None:
                    bounds[key] = getattr(m, key)
            if getattr(m, "min_length", None) is not None:
                min_len = m.min_length
        if len(branches(bare)) > 1:
            for option in branches(bare):
                visit(option)
        elif is_list(bare):
            visit(item(bare))
        elif typing.get_origin(bare) is dict:
            nested = typing.get_args(bare)[1]
        elif isinstance(bare, type) and issubclass(bare, BaseModel):
            nested = bare
        elif typing.get_origin(bare) is Literal:
            scalars.add(type(typing.get_args(bare)[0]))
        else:
            scalars.add(bare)

    visit(tp)
    listy = all(is_list(b) for b in branches(tp) if strip(b)[0] is not type(None))
    # cast: the schema's default factories take no argument (pydantic also allows one taking the data)
    default = (
        cast(typing.Callable[[], Any], info.default_factory)() if info.default_factory is not None else info.default
    )
    return FieldSpec(tp, default, frozenset(scalars), listy, bounds, choices(tp), min_len, nested)
