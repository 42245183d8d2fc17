"""Reading ``params.yaml`` as DVC reads it (YAML 1.2), within bounds on its size and shape.

A problem -- a missing or unreadable file, a syntax error, a file too deep or
too large, a repeated key -- is one :class:`ConfigError` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hyperlab.config.fields import ConfigError

PARAMS_FILE = Path("params.yaml")

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
