"""The docs' parameter tables cannot drift from the schema (:mod:`hyperlab.config`), nor params.yaml from either.

Each experiment page of ``docs/`` lists the parameters of its section of
params.yaml (the common ones, ``seed``, ``data`` and ``figures``, are in
``docs/pipeline.md``). A parameter table is a table whose first header cell starts with
``key`` (``key (`l2l.`)`` puts a prefix before every key of it). Each row
names one or more keys in backticks, and gives one default per key in the
``default`` column, in the same order. The tables of all pages together must list every key of the
schema and no other; a default must equal the schema's; where params.yaml sets
another value the cell says so, ``20 (params.yaml: 30)``, and only there. A
default the table describes in words (``all eleven``) must read as
``DESCRIBED`` writes it from the schema's. The ``allowed`` cell of a key with choices names exactly those
choices.
"""

from __future__ import annotations

import re

import pytest
from pydantic_core import PydanticUndefined

from conftest import REPO
from hyperlab import config
from hyperlab.config import SECTIONS, TOP_LEVEL_KEYS, Common, describe

#: Every page of docs/, by its path relative to the repository: the tables are read from these.
PAGES = {f"docs/{p.name}": p.read_text() for p in sorted((REPO / "docs").glob("*.md"))}
PARAMS = config.read_params(config.REPO_PARAMS)
_WORDS = {
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
}
#: Defaults a table states in words, and the words each schema default must give.
DESCRIBED = {
    "data.mirrors": lambda d: f"{_WORDS[len(d)]} public mirrors",
    "search.strategies": lambda d: f"all {_WORDS[len(d)]}",
    "search.strategies.<name>.n_startup_trials": lambda d: (
        f"min({config.DEFAULT_STARTUP_TRIALS}, `n_trials`)" if d is None else None
    ),
    "search.strategies.<name>.cost": lambda d: "`search.cost`" if d is None else None,
    "l2l.recipes": lambda d: " and ".join(f"`{name}` for {r.meta_updates}" for name, r in d.items()),
    "l2l.recipes.<name>.meta_updates": lambda d: "required" if d is PydanticUndefined else None,
}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas that are not inside brackets, parentheses or backticks."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        quoted ^= ch == "`"
        depth += (ch in "[(") - (ch in "])")
        if ch == "," and not depth and not quoted:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def tables(text: str, page: str = "docs") -> list[dict]:
    """Every row of every parameter table of ``text`` (the page ``page``): ``{where, keys, default, allowed}``."""
    rows, lines = [], text.splitlines()
    for n, line in enumerate(lines):
        head = _cells(line) if line.startswith("|") else []
        if not head or not head[0].startswith("key"):
            continue
        prefix = "".join(re.findall(r"`([^`]+)`", head[0]))
        column = {name: i for i, name in enumerate(head)}
        for m in range(n + 2, len(lines)):
            if not lines[m].startswith("|"):
                break
            cells = _cells(lines[m])
            keys = [prefix + k for k in re.findall(r"`([^`]+)`", cells[0])]
            rows.append(
                {
                    "where": f"{page} line {m + 1}",
                    "keys": keys,
                    "default": cells[column["default"]],
                    "allowed": cells[column["allowed"]],
                }
            )
    return rows


def resolve(key: str):
    """(section class, key in it) for a dotted docs key (``search.strategies.<name>.cost``); None if none."""
    parts = key.split(".")
    if len(parts) == 1:
        return (Common, key) if key in TOP_LEVEL_KEYS else None
    if parts[0] not in SECTIONS:
        return None
    cls, rest = SECTIONS[parts[0]], parts[1:]
    while len(rest) > 1:
        spec = describe(cls, rest[0]) if rest[0] in cls.model_fields else None
        if spec is None or spec.nested is None:
            return None
        named = rest[1] == "<name>"  # a mapping of names to sections: the name is a placeholder
        cls, rest = spec.nested, rest[2 if named else 1 :]
    return (cls, rest[0]) if rest and rest[0] in cls.model_fields else None


def schema_keys() -> set[str]:
    def below(cls, where):
        for name in cls.model_fields:
            spec = describe(cls, name)
            yield where + name
            if spec.nested is not None:
                yield from below(spec.nested, f"{where}{name}.<name>.")

    return {*below(Common, ""), *(k for s, cls in SECTIONS.items() for k in below(cls, f"{s}."))}


def _value(text: str):
    """A default as the table writes it: YAML, in backticks or not, thousands separated by commas."""
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text.replace("`", ""))
    try:
        return config.parse_yaml(text)
    except config.ConfigError:
        return text


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _in_params(key: str, params: dict):
    """(True, value) if ``params`` sets ``key`` (a plain key, not below a ``<name>``), else (False, None)."""
    node = params
    for part in key.split("."):
        if part == "<name>" or not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _row_problems(row: dict, params: dict) -> list[str]:
    where = row["where"]
    unknown = [k for k in row["keys"] if resolve(k) is None]
    if unknown:
        return [f"{where}: `{k}`: no such key in the schema" for k in unknown]
    out = []
    items = _split_top(row["default"]) if len(row["keys"]) > 1 else [row["default"]]
    if len(items) != len(row["keys"]):
        return [f"{where}: give one default per key, {row['keys']}: {row['default']!r}"]
    choices = set()
    for key, item in zip(row["keys"], items):
        spec = describe(*resolve(key))
        if spec.choices and spec.nested is None:
            choices |= set(spec.choices)
        note = re.fullmatch(r"(.*?)\s*\(params\.yaml: (.+)\)", item)
        shown, noted = (note.group(1), note.group(2)) if note else (item, None)
        if key in DESCRIBED:
            if shown != DESCRIBED[key](spec.default):
                out.append(f"{where}: `{key}`: default {shown!r}; the schema's reads {DESCRIBED[key](spec.default)!r}")
        elif not _same(_value(shown), spec.default):
            out.append(f"{where}: `{key}`: default {shown!r}; the schema's is {spec.default!r}")
        present, value = _in_params(key, params)
        if present and spec.nested is None and not _same(value, spec.default):
            if noted is None or not _same(_value(noted), value):
                out.append(f"{where}: `{key}`: params.yaml sets {value!r}; write `{shown} (params.yaml: {value})`")
        elif noted is not None:
            out.append(f"{where}: `{key}`: params.yaml sets the default; drop the note in {item!r}")
    named = {w for w in re.findall(r"`([^`]+)`", row["allowed"]) if re.fullmatch(r"\w+", w)}
    if choices and named != choices:
        out.append(f"{where}: allowed names {sorted(named)}; the schema allows {sorted(choices)}")
    return out


def all_rows(pages: dict[str, str] = PAGES) -> list[dict]:
    return [row for page, text in pages.items() for row in tables(text, page)]


def problems(pages: dict[str, str] = PAGES, params: dict = PARAMS) -> list[str]:
    """Every way the parameter tables of ``pages`` disagree with the schema and ``params``."""
    rows = all_rows(pages)
    out = [p for row in rows for p in _row_problems(row, params)]
    missing = schema_keys() - {key for row in rows for key in row["keys"]}
    out += [f"docs: no row for `{key}`" for key in sorted(missing)]
    return out


def test_the_tables_are_found():
    rows = all_rows()
    assert len(rows) > 60 and all(row["keys"] for row in rows), [r for r in rows if not r["keys"]]
    assert {k.split(".")[0] for row in rows for k in row["keys"]} >= {*SECTIONS, *TOP_LEVEL_KEYS}


def test_docs_tables_match_the_schema():
    assert not problems(), "\n".join(problems())


@pytest.mark.parametrize(
    "before, after, words",
    [
        ("| `data.n_train` | 3000 |", "| `data.n_train` | 2000 |", "`data.n_train`: default '2000'"),
        ("| `hypernet.h0` | 1.5 |", "| `hypernet.h00` | 1.5 |", "`hypernet.h00`: no such key"),
        ("| `hypernet.h0` | 1.5 |", "| `hypernet.h1` | 1.5 |", "no row for `hypernet.h0`"),
        ("| `search.repeats` | 20 (params.yaml: 30) |", "| `search.repeats` | 20 |", "params.yaml sets 30"),
        ("| `search.n_trials` | 40 |", "| `search.n_trials` | 40 (params.yaml: 40) |", "drop the note"),
        (
            "| `drmad.outer_optimizer` | `adam` | `sgd`, `adam` |",
            "| `drmad.outer_optimizer` | `adam` | `adam` |",
            "the schema allows ['adam', 'sgd']",
        ),
        ("| `drmad.tune_lr` | true |", "| `drmad.tune_lr` | 1 |", "`drmad.tune_lr`: default '1'"),
        ("| `search.strategies` | all eleven |", "| `search.strategies` | all ten |", "all eleven"),
        ("| `batch_size`, `n_steps` | 128, 100 |", "| `batch_size`, `n_steps` | 128 |", "one default per key"),
    ],
)
def test_a_drifted_table_is_caught(before, after, words):
    assert sum(text.count(before) for text in PAGES.values()) == 1, before
    found = problems({page: text.replace(before, after) for page, text in PAGES.items()})
    assert any(words in p for p in found), found


def test_params_yaml_sets_every_key():
    """params.yaml shows every knob (its validation already refuses keys the schema lacks)."""
    plain = {k for k in schema_keys() if "<name>" not in k}
    assert not {k for k in plain if not _in_params(k, PARAMS)[0]}, sorted(
        k for k in plain if not _in_params(k, PARAMS)[0]
    )


#: The page that documents each section of params.yaml (top-level keys included).
PAGE_OF = {
    "seed": "docs/pipeline.md",
    "data": "docs/pipeline.md",
    "figures": "docs/pipeline.md",
    "candidates": "docs/candidates.md",
    "search": "docs/architecture-search.md",
    "sampler_bench": "docs/gp-samplers.md",
    "order": "docs/bilevel.md",
    "bilevel": "docs/bilevel.md",
    "drmad": "docs/drmad.md",
    "hypernet": "docs/hypernetworks.md",
    "hpo": "docs/hpo.md",
    "hpo_scale": "docs/hpo-scale.md",
    "hpo_sweep": "docs/hpo-scale.md",
    "l2l": "docs/l2l.md",
}


def test_each_section_is_listed_on_its_page():
    assert set(PAGE_OF) == {*SECTIONS, *TOP_LEVEL_KEYS}, sorted({*SECTIONS, *TOP_LEVEL_KEYS} ^ set(PAGE_OF))
    for section, page in PAGE_OF.items():
        assert any(k.split(".")[0] == section for row in tables(PAGES[page], page) for k in row["keys"]), (
            f"{page} has no parameter table row for `{section}`"
        )
    for row in all_rows():
        for key in row["keys"]:
            section = key.split(".")[0]
            assert section == "seed" or row["where"].startswith(PAGE_OF[section] + " "), (
                f"{row['where']}: `{key}` belongs on {PAGE_OF[section]}"
            )
