"""Reading ``params.yaml``, and turning a pydantic ``ValidationError`` into one line.

The line names the full key, the value found and what is allowed::

    params.yaml: data.n_train: got -5; must be >= 10
    params.yaml: search.strategies.annealing: unknown entry; allowed: random_uniform, random, ...

Pydantic reports every problem, each at a location inside the value (element 3
of a list, member ``float`` of a union); the first problem in file order is
reported, at the key, with the whole value the file holds there.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from hyperlab.config import fields
from hyperlab.config.fields import ConfigError, Section

PARAMS_FILE = Path("params.yaml")

_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


#: Bounds on the shape of params.yaml (the repository's file: about 12 kB, 5 levels, 600 values). A deeper
#: or larger file is refused in one line before PyYAML's recursive composer (a RecursionError at a few hundred
#: levels) or pydantic sees it; aliases count as the values they stand for, so a "billion laughs" file is too.
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 100_000


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading plain scalars exactly as DVC does (ruamel.yaml, YAML 1.2).

    PyYAML implements YAML 1.1; DVC reads and writes ``params.yaml`` with
    ruamel.yaml in YAML 1.2 mode (``dvc exp run -S``, ``dvc params diff``), and
    the two differ: ``1e-05`` and ``1E3`` are strings in YAML 1.1 but floats
    for DVC; ``yes``, ``on``, ``off`` are booleans in YAML 1.1 but strings for
    DVC, and ``1:30`` is 90 (sexagesimal) in YAML 1.1 but a string; ``012`` is
    octal 10 in YAML 1.1 but 12 for DVC. So the implicit resolvers are
    ruamel.yaml's YAML 1.2 table (which, beyond the 1.2 core schema, keeps
    ``3_000`` = 3000, ``0b101`` = 5 and dates), and the value a stage sees is
    the one DVC hashes and shows (a test compares the two on many scalars).
    Also refused: a repeated key (it would silently keep the last value; DVC
    refuses such a file), and a file nested deeper than :data:`MAX_DEPTH` or
    holding more than :data:`MAX_VALUES` values.
    """

    yaml_implicit_resolvers: dict = {}  # YAML 1.2 core schema only (filled below)

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._values: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _ShapeError(
                    f"nested more than {MAX_DEPTH} levels deep; allowed at most {MAX_DEPTH}",
                    self.peek_event().start_mark,
                )
            is_alias = self.check_event(yaml.AliasEvent)
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(node, mark, is_alias)
        return node

    def _count(self, node, mark, is_alias: bool) -> None:
        """Record the values under ``node`` (an alias stands for its whole anchored value)."""
        if is_alias:
            if id(node) not in self._values:
                raise _ShapeError("an alias refers to a value that contains it; not allowed", mark)
            return
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        total = 1 + sum(self._values.get(id(c), 1) for c in children)
        self._values[id(node)] = total
        if total > MAX_VALUES:
            raise _ShapeError(
                f"holds more than {MAX_VALUES} values (aliases expanded); allowed at most {MAX_VALUES}", mark
            )

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: merged by SafeConstructor below
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_dvc_int(self, node) -> int:
        """An integer as ruamel.yaml's YAML 1.2 reads one.

        ``_`` is ignored; ``0b``, ``0o``, ``0x`` prefixes; else decimal (``012`` = 12).
        """
        text = self.construct_scalar(node).replace("_", "")
        sign = -1 if text[:1] == "-" else 1
        text = text.lstrip("+-")
        base = {"0b": 2, "0o": 8, "0x": 16}.get(text[:2])
        return sign * (int(text[2:], base) if base else int(text, 10))


class _ShapeError(yaml.YAMLError):
    """params.yaml too deep or too large (reported like a syntax error: one line with the line number)."""

    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


# ruamel.yaml's implicit resolvers for YAML 1.2 (ruamel/yaml/resolver.py), which DVC reads params with; anything
# else, including every YAML 1.1-only form (yes/no/on/off, sexagesimal 1:30), is a string.
for _tag, _regex, _first in [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "float",
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""",
        list("-+0123456789."),
    ),
    (
        "int",
        r"""^(?:[-+]?0b[0-1_]+
                 |[-+]?0o?[0-7_]+
                 |[-+]?[0-9_]+
                 |[-+]?0x[0-9a-fA-F_]+)$""",
        list("-+0123456789"),
    ),
    ("merge", r"^(?:<<)$", ["<"]),
    ("value", r"^(?:=)$", ["="]),  # no constructor, here as in ruamel.yaml: a plain `=` is refused
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (
        "timestamp",
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                       |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
                        (?:[Tt]|[\ \t]+)[0-9][0-9]?
                        :[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
                        (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        list("0123456789"),
    ),
]:
    ParamsLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_regex, re.X), _first)
ParamsLoader.add_constructor("tag:yaml.org,2002:int", ParamsLoader.construct_dvc_int)


def yaml11_reading(text: str) -> str | None:
    """How YAML 1.1 (PyYAML's default) reads ``text``, where it is a number or boolean there but a string for DVC.

    ``"1:30"`` -> ``"90"``, ``"yes"`` -> ``"true"``, ``"off"`` -> ``"false"``: what to write instead, so
    that a value meant as a number or a boolean is one for DVC too.
    """
    if len(text) > 64 or "\n" in text:
        return None
    try:
        value = yaml.safe_load(text)
        if not isinstance(yaml.load(text, Loader=ParamsLoader), str):  # noqa: S506 -- a SafeLoader subclass
            return None  # the same kind in YAML 1.2: a quoted "3" is refused for its quotes, not its version
    except yaml.YAMLError:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return None


def parse_yaml(text: str, name: str | Path = PARAMS_FILE) -> Any:
    """``text`` parsed with :class:`ParamsLoader`; a syntax error is one line naming ``name``."""
    try:
        return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 -- a SafeLoader subclass
    except _ShapeError as err:
        raise ConfigError(f"{name}: line {err.problem_mark.line + 1}: {err.problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{name}: not valid YAML{where}: {' '.join(str(problem).split())}") from None


def read_yaml_file(path: str | Path) -> Any:
    """The parsed YAML file ``path``; a missing, unreadable or non-text file is one line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root, where params.yaml lives")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path}: {size} bytes; allowed at most {MAX_BYTES} (a params file, not data)")
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({' '.join(str(err.strerror or err).split())})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); must be a YAML file") from None
    return parse_yaml(text, path)


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
        return ConfigError(f"params.yaml: {key}: got {found!r}; {_problem(error, None, {})}")
    spec = fields.describe(where.section, where.key[-1])
    mine = [{**e, "rest": w.rest} for w, e in located if w.key == where.key and w.kind == "value"]
    problem = _value_problem(spec, mine)
    hint = _yaml11_hint(found) if problem.startswith("must be") and any(map(_is_type_error, mine)) else None
    if hint:
        return ConfigError(f"params.yaml: {key}: {hint}")
    return ConfigError(f"params.yaml: {key}: got {found!r}; {problem}")


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
