"""Reading ``params.yaml`` as DVC reads it, with ruamel.yaml (YAML 1.2), within bounds on its size and shape.

DVC reads and writes ``params.yaml`` with ruamel.yaml's safe loader (``dvc exp run -S``, ``dvc params
diff``), so the value a stage sees is the one DVC hashes and shows: ``1e-05`` is a float, ``yes`` and
``1:30`` are strings, ``012`` is 12 (YAML 1.1, PyYAML's default, reads each otherwise; a test compares
the two on many scalars). Beyond ruamel.yaml's own reading, a file is refused with one
:class:`ConfigError` line when it is missing or unreadable, has a syntax error, repeats a key (which
would silently keep the last value), or is deeper or larger than the bounds below.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from hyperlab.config.fields import ConfigError

PARAMS_FILE = Path("params.yaml")

#: Bounds on the shape of params.yaml (the repository's file: about 12 kB, 5 levels, 600 values). A deeper
#: or larger file is refused in one line before the recursive composer (a RecursionError at a few hundred
#: levels) or pydantic sees it; aliases count as the values they stand for, so a "billion laughs" file is too.
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 100_000

_MERGE = "tag:yaml.org,2002:merge"


class _ShapeError(Exception):
    """params.yaml too deep or too large, or a repeated key: one line with the line number."""

    def __init__(self, problem: str, mark: Any):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _BoundedComposer(Composer):
    """ruamel.yaml's composer, counting depth and values (aliases expanded) as it builds the node tree."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._level = 0
        self._values: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._level += 1
        try:
            event = self.parser.peek_event()
            if self._level > MAX_DEPTH:
                raise _ShapeError(
                    f"nested more than {MAX_DEPTH} levels deep; allowed at most {MAX_DEPTH}", event.start_mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._level -= 1
        self._count(node, event.start_mark, isinstance(event, AliasEvent))
        return node

    def _count(self, node: Any, mark: Any, is_alias: bool) -> None:
        """Record the values under ``node`` (an alias stands for its whole anchored value)."""
        if is_alias:
            if id(node) not in self._values:
                raise _ShapeError("an alias refers to a value that contains it; not allowed", mark)
            return
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = node.value
        else:
            children = []
        total = 1 + sum(self._values.get(id(c), 1) for c in children)
        self._values[id(node)] = total
        if total > MAX_VALUES:
            raise _ShapeError(
                f"holds more than {MAX_VALUES} values (aliases expanded); allowed at most {MAX_VALUES}", mark
            )


class _StrictConstructor(SafeConstructor):
    """ruamel.yaml's safe constructor, refusing a repeated key in every mapping.

    ruamel.yaml (and so DVC) refuses one too, except in a mapping that also merges (``<<: *base``),
    where the last value silently wins; here a repeat of the mapping's own keys is refused there too
    (a merged key that the mapping overrides is not a repeat).
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: set = set()
            # once flattened (as the source of another mapping's merge), the merged pairs sit in node.value too
            merged = {id(key) for key, _ in getattr(node, "merge", None) or ()}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or id(key_node) in merged:
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable) and key in seen:
                    raise _ShapeError(f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _loader(version: tuple[int, int] | None = None) -> YAML:
    """A ruamel.yaml safe loader as DVC's (YAML 1.2 unless ``version``), bounded; pure Python, so the hooks run."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _StrictConstructor
    if version is not None:
        yaml.version = version
    return yaml


def yaml11_reading(text: str) -> str | None:
    """How YAML 1.1 (PyYAML's default) reads ``text``, where it is a number or boolean there but a string for DVC.

    ``"1:30"`` -> ``"90"``, ``"yes"`` -> ``"true"``, ``"off"`` -> ``"false"``: what to write instead, so
    that a value meant as a number or a boolean is one for DVC too.
    """
    if len(text) > 64 or "\n" in text:
        return None
    try:
        if not isinstance(_loader().load(text), str):
            return None  # the same kind in YAML 1.2: a quoted "3" is refused for its quotes, not its version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ruamel.yaml warns that YAML 1.1 floats want a dot: not our reading
            value = _loader((1, 1)).load(text)
    except (YAMLError, _ShapeError):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return None


def parse_yaml(text: str, name: str | Path = PARAMS_FILE) -> Any:
    """``text`` parsed as DVC parses it (bounded); a syntax error is one line naming ``name``."""
    try:
        return _loader().load(text)
    except _ShapeError as err:
        if err.problem.startswith("duplicate key"):  # a syntax matter, said as PyYAML-era messages said it
            raise ConfigError(f"{name}: not valid YAML (line {err.problem_mark.line + 1}): {err.problem}") from None
        raise ConfigError(f"{name}: line {err.problem_mark.line + 1}: {err.problem}") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None) if isinstance(err, MarkedYAMLError) else None
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
