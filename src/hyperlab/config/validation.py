"""A section built from its raw mapping, and a pydantic ``ValidationError`` turned into one line.

The line names the full key, the value found and what is allowed::

    params.yaml: data.n_train: got -5; must be >= 10
    params.yaml: search.strategies.annealing: unknown entry; allowed: random_uniform, random, ...

Pydantic reports every problem, each at a location inside the value (element 3
of a list, member ``float`` of a union); the first problem in file order is
reported, at the key, with the whole value the file holds there.
"""

from __future__ import annotations

import typing
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from hyperlab.config import fields
from hyperlab.config.fields import ConfigError, Section
from hyperlab.config.yaml_reader import yaml11_reading

_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def parse_section(cls: type[Section], raw: Any, name: str):
    """Section ``cls`` built from the mapping ``raw`` found at key ``name``; else :class:`ConfigError`."""
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise _one_line(cls, raw, name, cast(list[dict], err.errors(include_url=False))) from None


# --------------------------------------------------------------------------- one line from pydantic's errors


class _Where(typing.NamedTuple):
    """Where an error sits: the key it belongs to, and what is left of its location inside the value."""

    key: tuple  # field names and mapping entries down to the key
    rest: tuple  # inside the key's value: list index, union member
    section: type[BaseModel]  # the section holding the key
    # "value": a plain key; "unknown": no such key; "entry": a bad entry name in a mapping of sections;
    # "section": a section, or a mapping of sections, as a whole (not a mapping, too few entries, a cross-key check)
    kind: str
    order: tuple  # sorts errors in file order, a section's unknown keys first


def _locate(cls: type[BaseModel], raw: Any, loc: tuple) -> _Where:
    """Follow pydantic's ``loc`` through the schema (sections, mappings of named sections) to a key."""
    order: tuple
    section, order, i = cls, (), 0
    while i < len(loc):
        name = loc[i]
        if name not in section.model_fields:
            return _Where(loc[: i + 1], (), section, "unknown", (*order, -1))
        order += (list(section.model_fields).index(name),)
        raw = raw.get(name) if isinstance(raw, dict) else None
        spec = fields.describe(section, name)
        if spec.nested is None:
            return _Where(loc[: i + 1], loc[i + 1 :], section, "value", order)
        if i + 1 == len(loc):
            return _Where(loc[: i + 1], (), section, "section", order)
        if typing.get_origin(fields.strip(spec.annotation)[0]) is dict:  # next: the entry's name
            i += 1
            order += (list(raw).index(loc[i]) if isinstance(raw, dict) and loc[i] in raw else 0,)
            if loc[i + 1 : i + 2] == ("[key]",):
                return _Where(loc[: i + 1], (), section, "entry", order)
            raw = raw.get(loc[i]) if isinstance(raw, dict) else None
            if i + 1 == len(loc):
                return _Where(loc[: i + 1], (), spec.nested, "section", order)
        section = spec.nested
        i += 1
    return _Where(loc, (), section, "section", order)


def _raw_at(raw: Any, key: tuple) -> Any:
    for part in key:
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def _is_type_error(error: dict) -> bool:
    """A value of the wrong kind (as opposed to one of the right kind that is not allowed)."""
    if error["type"] == "literal_error":  # a string, not among the choices; or not even a string
        return not isinstance(error["input"], str)
    return error["type"].endswith("_type") or error["type"] == "none_required"


def _problem(error: dict, tp: Any, bounds: dict) -> str:
    """``must be >= 1``, ``allowed: a, b``, ...: what a value of the right kind breaks.

    A bound is quoted as the schema writes it (``le=100``: "<= 100", not pydantic's "<= 100.0").
    """
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        key, word = _BOUNDS[kind]
        return f"must be {word} {bounds.get(key, ctx[key])}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "literal_error":
        # cast: a literal_error comes from a Literal, whose choices are known
        return f"allowed: {', '.join(map(str, cast(tuple, fields.choices(tp))))}"
    if kind == "too_short":
        unit = "entry(ies)" if ctx.get("field_type") == "Dictionary" else "element(s)"
        return f"must have at least {ctx['min_length']} {unit}"
    if kind == "model_type":
        return "must be a mapping of keys"
    if kind == "dict_type":
        return "must be a mapping"
    if "error" in ctx:  # a check that raised ValueError("must ...")
        return str(ctx["error"])
    return error["msg"]


def _value_problem(spec: fields.FieldSpec, errors: list[dict]) -> str:
    """What is wrong with one key's value, from all of pydantic's errors inside it.

    As the checks read: first the type of the whole value, then each element in
    order, then the length, then the key's own check. In a union the member the
    value has the type of decides (``h0: 1.0e+300``: that number's bound, not
    "must be a list").
    """
    tp = spec.annotation
    union = len(fields.branches(tp)) > 1
    members: dict = {}  # pydantic names the union member first in the location inside the value
    for e in errors:
        member = e["rest"][0] if union and e["rest"] and isinstance(e["rest"][0], str) else None
        members.setdefault(member, []).append(e)
    for mine in members.values():
        if not any(_is_type_error(e) for e in mine):
            return _problem(min(mine, key=_elements_first), tp, spec.bounds)
    return f"must be {fields.type_name(tp)}"


def _elements_first(error: dict) -> tuple:
    """Sort key: an error at a list element before one about the whole list, elements in order."""
    index = [p for p in error["rest"] if isinstance(p, int)]
    return (not index, index)


def _one_line(cls: type[BaseModel], raw: Any, name: str, errors: list[dict]) -> ConfigError:
    located = [(_locate(cls, raw, tuple(e["loc"])), e) for e in errors]
    where, error = min(located, key=lambda pair: pair[0].order)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):  # a check across keys: it wrote its own line
        return cause
    key = ".".join(map(str, ((name,) if name else ()) + where.key))
    found = _raw_at(raw, where.key)
    if where.kind == "unknown":
        return ConfigError(f"params.yaml: {key}: unknown key; allowed: {', '.join(where.section.model_fields)}")
    if where.kind == "entry":
        spec = fields.describe(where.section, where.key[-2])
        allowed = spec.choices or (fields.type_name(typing.get_args(fields.strip(spec.annotation)[0])[0]),)
        return ConfigError(f"params.yaml: {key}: unknown entry; allowed: {', '.join(map(str, allowed))}")
    if error["type"] == "missing":
        tp = where.section.model_fields[where.key[-1]].annotation
        return ConfigError(f"params.yaml: {key}: missing; required ({fields.type_name(tp)})")
    if where.kind == "section":
        return ConfigError(f"params.yaml: {key}: got {shown(found)}; {_problem(error, None, {})}")
    spec = fields.describe(where.section, where.key[-1])
    mine = [{**e, "rest": w.rest} for w, e in located if w.key == where.key and w.kind == "value"]
    problem = _value_problem(spec, mine)
    hint = _yaml11_hint(found) if problem.startswith("must be") and any(map(_is_type_error, mine)) else None
    if hint:
        return ConfigError(f"params.yaml: {key}: {hint}")
    return ConfigError(f"params.yaml: {key}: got {shown(found)}; {problem}")


#: The longest value an error line repeats whole; a longer one is cut, with its length.
MAX_SHOWN = 120


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`MAX_SHOWN` characters with the full length said: the line stays one line."""
    text = repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as written"
    return f"{text[:MAX_SHOWN]}... ({size})"


def _yaml11_hint(found: Any) -> str | None:
    """For a string (or a list's first string) YAML 1.1 would read as a number or boolean: what to write.

    Such a value worked with PyYAML's defaults but is a string for DVC (YAML
    1.2), so the line says why it is refused and what DVC reads as meant.
    """
    for value in found if isinstance(found, (list, tuple)) else [found]:
        if isinstance(value, str):
            meant = yaml11_reading(value)
            if meant is not None:
                return f"{value} is a string in YAML 1.2 (as DVC reads it); write {meant}"
    return None
