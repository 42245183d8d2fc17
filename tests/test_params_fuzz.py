"""Params fuzzing generated from the schema, covering every key.

Every key of every section gets a wrong type, out-of-range values (1e300 and
non-finite numbers for floats), an unknown sibling, and removal; each bad case
must stop validation with one line naming the key. The bulk runs in-process
(``config.validate_raw``); a handful of real stage runs check the whole path:
exit 2, one line on stderr, nothing written.
"""

from __future__ import annotations

import copy
import math
import sys

import pytest

from conftest import run_stage
from hyperlab import config
from hyperlab.config import SECTIONS, Common, ConfigError
from hyperlab.config.fields import FieldSpec, describe

BASE = config.read_params(config.REPO_PARAMS)


def _fields():
    """(section or None for top level, key, what it allows) for every key of the schema's sections."""
    for name, cls in [(None, Common), *SECTIONS.items()]:
        for key in cls.model_fields:
            yield name, key, describe(cls, key)


def _bad_values(spec: FieldSpec) -> list[tuple[str, object]]:
    """(label, value) pairs that must all be refused for this field."""
    leaves = spec.scalars - {type(None)}
    wrap = (lambda v: [v]) if spec.is_list else (lambda v: v)
    if spec.nested is not None:  # search.strategies
        return [("type", 3), ("empty", {}), ("unknown_entry", {"annealing": {}})]
    if leaves == {bool}:
        return [("type", "yes"), ("type_int", 1)]
    if leaves == {str}:
        out = [("type", 123), ("type_list", [1] if not spec.is_list else 5)]
        if spec.choices:
            out.append(("choice", wrap("no_such_choice")))
        return out
    out = [("type", "abc"), ("type_bool", wrap(True))]
    for key, delta in (("ge", -1), ("gt", 0), ("le", +1), ("lt", 0)):
        bound = spec.bounds.get(key)
        if bound is not None:
            value = bound + delta if int in leaves and float not in leaves else bound + delta * max(1, abs(bound))
            out.append((f"range_{key}", wrap(int(value) if float not in leaves else float(value))))
    if float in leaves:
        out += [("huge", wrap(1.0e300)), ("neg_huge", wrap(-1.0e300)), ("inf", wrap(math.inf)), ("nan", wrap(math.nan))]
    else:
        out.append(("float_for_int", wrap(2.5)))
        out.append(("huge_int", wrap(10**30)))
    return out


def _cases():
    for section, name, spec in _fields():
        key = name if section is None else f"{section}.{name}"
        for label, value in _bad_values(spec):
            yield pytest.param(section, name, value, key, id=f"{key}-{label}")


CASES = list(_cases())


def _with(section, name, value):
    raw = copy.deepcopy(BASE)
    if section is None:
        raw[name] = value
    else:
        raw.setdefault(section, {})
        raw[section] = dict(raw[section] or {}, **{name: value})
    return raw


def _one_line(err: ConfigError) -> str:
    message = str(err)
    assert "\n" not in message and message.startswith("params.yaml: "), message
    return message


def test_every_number_key_has_an_explicit_range():
    """A float or int key without both bounds would accept 1e300."""
    for section, name, spec in _fields():
        if spec.scalars & {int, float} and not spec.choices:
            assert "ge" in spec.bounds or "gt" in spec.bounds, (section, name)
            assert "le" in spec.bounds or "lt" in spec.bounds, (section, name)


def test_fuzz_covers_every_key():
    keys = {c.values[3] for c in CASES}
    assert len(keys) == sum(1 for _ in _fields()) and len(CASES) > 250


@pytest.mark.parametrize("section, name, value, key", CASES)
def test_bad_value_is_one_line_naming_the_key(section, name, value, key):
    with pytest.raises(ConfigError) as err:
        config.validate_raw(_with(section, name, value))
    assert f" {key}" in _one_line(err.value) or f": {key}" in str(err.value), str(err.value)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_unknown_sibling_is_refused(section):
    with pytest.raises(ConfigError) as err:
        config.validate_raw(_with(section, "bogus_key", 1))
    assert f"{section}.bogus_key: unknown key" in _one_line(err.value)


@pytest.mark.parametrize("section, name", [(s, name) for s, name, _ in _fields()])
def test_every_key_may_be_removed(section, name):
    """No key is required: each has a default, so `dvc exp run -S` works on a partial file."""
    raw = copy.deepcopy(BASE)
    (raw if section is None else raw[section]).pop(name, None)
    config.validate_raw(raw)


def test_numbers_as_dvc_writes_them(tmp_path):
    """`dvc exp run -S bilevel.outer_lr=0.00001` writes `outer_lr: 1e-05` (YAML 1.2)."""
    text = config.REPO_PARAMS.read_text().replace("outer_lr: 0.2", "outer_lr: 1e-05")
    assert "outer_lr: 1e-05" in text
    path = tmp_path / "params.yaml"
    path.write_text(
        text.replace("val_tol: 0.001", "val_tol: 1E-3")
        .replace("inner_lr: 0.1", "inner_lr: .1")
        .replace("quartic: 0.1", "quartic: +1e-1")
        .replace("h0: 1.0 ", "h0: -1e-3 ")
    )
    config.validate_all(path)
    p = config.load_section("bilevel", path)
    assert (p.outer_lr, p.val_tol, p.inner_lr, p.h0) == (1e-05, 1e-3, 0.1, -1e-3)
    assert config.load_section("drmad", path).quartic == 0.1
    assert isinstance(config.parse_yaml("a: 1E3")["a"], float) and config.parse_yaml("a: 10")["a"] == 10
    assert config.parse_yaml("a: '1e-05'")["a"] == "1e-05"  # quoted stays a string


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("seed: 0\nseed: 1\n", "(line 2): duplicate key 'seed'"),
        ("bilevel:\n  h0: 1\n  dim: 1\n  h0: 2\n", "(line 4): duplicate key 'h0'"),
        ("bilevel: {outer_lr: .inf}\n", "bilevel.outer_lr: got inf; must be a finite number"),
        ("bilevel: {outer_lr: .nan}\n", "bilevel.outer_lr: got nan; must be a finite number"),
        ("bilevel: {h0: 1.0e+300}\n", "bilevel.h0: got 1e+300; must be <= 1000.0"),
        ("l2l: {lr_grid: [0.1, 1.0e+300]}\n", "l2l.lr_grid: got [0.1, 1e+300]; must be <= 100"),
        (
            "data: {n_train: 4000, n_val: 1000, n_test: 1000}\n",
            "data.n_train + data.n_val + data.n_test: got 4000 + 1000 + 1000 = 6000; must be <= the 5000 digits",
        ),
        ("data: {source: full, n_test: 20000}\n", "data.n_test: got 20000; must be <= the 10000 test digits"),
        ("data: {source: idx_dir}\n", "data.idx_dir: empty"),
        ("search: {storage: no_such_dir/journal.log}\n", "search.storage: got 'no_such_dir/journal.log'; folder"),
        ("search: {storage: .}\n", "search.storage: got '.'; is a folder"),
        ("search: {storage: 'redis2://host/0'}\n", "search.storage: got 'redis2://host/0'; unknown database URL"),
        (
            "search: {n_trials: 5, strategies: {gp_ei: {n_startup_trials: 6}}}\n",
            "search.strategies.gp_ei.n_startup_trials: got 6; must be <= search.n_trials (5)",
        ),
    ],
)
def test_file_level_problems_are_one_line(tmp_path, monkeypatch, text, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        config.validate_all()
    assert "\n" not in str(err.value) and fragment in str(err.value), str(err.value)


def test_binary_params_file_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" + bytes(range(256)))
    with pytest.raises(ConfigError) as err:
        config.read_params(path)
    assert "not UTF-8 text" in str(err.value) and "\n" not in str(err.value)
    path.write_text("seed: 0\x07\x01\n")  # valid UTF-8, but control characters YAML refuses
    with pytest.raises(ConfigError) as err:
        config.read_params(path)
    assert "not valid YAML" in str(err.value) and "\n" not in str(err.value)


def test_postgresql_without_driver_names_the_key(tmp_path, monkeypatch):
    """Whichever driver SQLAlchemy picks for postgresql://, an absent one is a params error."""
    for module in ("psycopg", "psycopg2", "psycopg2.extras", "psycopg2.extensions"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("search: {storage: 'postgresql://user@localhost/optuna'}\n")
    with pytest.raises(ConfigError) as err:
        config.validate_all()
    assert (
        "search.storage: got 'postgresql://user@localhost/optuna'; the driver for postgresql:// is not "
        "installed" in str(err.value)
    )


def test_startup_trials_default_to_at_most_n_trials():
    """The schema: n_trials 2 ... 10000; an absent n_startup_trials never conflicts with it."""
    for n in (2, 5, 9, 10, 40):
        p = config.parse_section(
            config.SearchParams, {"n_trials": n, "strategies": {"random_layerwise": {}, "tpe": None}}, "search"
        )
        assert {s.n_startup_trials for s in p.strategies.values()} == {min(10, n)}
    p = config.parse_section(
        config.SearchParams, {"n_trials": 40, "strategies": {"tpe": {"n_startup_trials": 7}}}, "search"
    )
    assert p.strategies["tpe"].n_startup_trials == 7


# --------------------------------------------------------------------------- real stage runs

STAGE_CASES = [
    ("bilevel", b"\xff\xfe\x00binary\x00params\n", "not UTF-8 text"),
    ("bilevel", b"order: 1\nbilevel:\n  h0: 1.0e+300\n", "bilevel.h0: got 1e+300"),
    ("bilevel", b"seed: 0\nbilevel: {outer_lr: 0.1}\nbilevel: {outer_lr: 0.2}\n", "duplicate key 'bilevel'"),
    ("search", b"search: {storage: missing_folder/j.log}\n", "search.storage"),
    ("l2l", b"l2l: {lr_grid: [1.0e+300]}\n", "l2l.lr_grid: got [1e+300]"),
    ("data", b"data: {n_train: 5000}\n", "data.n_train + data.n_val + data.n_test"),
    ("data", b"data: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 32 levels deep"),
    (
        "candidates",
        b"candidates: {learning_rate: 1.0e-300}\n",
        "candidates.learning_rate: got 1e-300; must be >= 1e-08",
    ),
    ("bilevel", b"bilevel: {outer_steps: 1:40}\n", "bilevel.outer_steps: 1:40 is a string in YAML 1.2"),
]


@pytest.mark.parametrize(
    "stage, text, fragment", STAGE_CASES, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(STAGE_CASES)]
)
def test_stage_refuses_bad_params_in_one_line_and_writes_nothing(tmp_path, stage, text, fragment):
    (tmp_path / "params.yaml").write_bytes(text)
    proc = run_stage(stage, tmp_path, None, *(["tpe"] if stage == "search" else []), check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


# --------------------------------------------------------------------------- positive keys have a real floor


def _positive_number_fields():
    """(section, key, lower bound) of every number key (or list of numbers) whose values must be positive."""
    for section, name, spec in _fields():
        low = spec.bounds.get("ge", spec.bounds.get("gt"))
        if float in spec.scalars and low is not None and low >= 0 and not (low == 0 and "ge" in spec.bounds):
            yield section, name, spec, low


POSITIVE = list(_positive_number_fields())


def test_no_number_key_is_merely_greater_than_zero():
    """`> 0` admits 1e-300, which runs a different, meaningless experiment: each such key states a floor."""
    loose = [f"{s}.{n}" for s, n, spec, _ in POSITIVE if spec.bounds.get("gt") == 0]
    assert not loose and len(POSITIVE) >= 20, loose


@pytest.mark.parametrize("section, name, spec, low", POSITIVE, ids=[f"{s}.{n}" for s, n, _, _ in POSITIVE])
def test_a_vanishing_positive_value_is_refused_naming_the_floor(section, name, spec, low):
    value = [1e-300] if spec.is_list else 1e-300
    with pytest.raises(ConfigError) as err:
        config.validate_raw(_with(section, name, value))
    assert _one_line(err.value) == f"params.yaml: {section}.{name}: got {value!r}; must be >= {low}"


def test_the_committed_params_sit_above_every_floor():
    config.validate_raw(BASE)  # the repository's own values are valid (and the README table's defaults)


# --------------------------------------------------------------------------- YAML 1.2, as DVC reads it

#: Plain scalars whose reading differs somewhere: YAML 1.1 (PyYAML's default), the 1.2 core schema, ruamel.yaml.
SCALARS = [
    "1:30",
    "-1:30",
    "1:30.5",
    "3_000",
    "1_0.5",
    "0b101",
    "0b1_0",
    "0o17",
    "012",
    "0x1F",
    "0x_1F",
    "+12",
    "-0",
    "1e-05",
    "1E3",
    "1e5",
    "+1e-1",
    ".5",
    "-.5",
    "5.",
    "1.e3",
    ".5e-3",
    ".inf",
    "-.Inf",
    ".NaN",
    "1_",
    "_1",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "False",
    "TRUE",
    "~",
    "null",
    "Null",
    "",
    "2001-12-14",
    "2001-12-14 21:59:43.10 -5",
    "2001-12-14t21:59:43.10-05:00",
    "1.2.3",
    "0x",
    "0b2",
    "08",
    "09.5",
    "=",
    "1-2",
    "abc",
    "inf",
    "nan",
    "+.inf",
    "0.",
    "00",
    "-_1",
]


def test_plain_scalars_read_exactly_as_dvc_reads_them():
    """DVC reads params.yaml with ruamel.yaml (YAML 1.2, typ safe): every scalar must read to the same value."""
    ruamel = pytest.importorskip("ruamel.yaml")
    reference = ruamel.YAML(typ="safe", pure=True)
    for text in SCALARS:
        try:
            expected = reference.load(f"a: {text}\n")["a"]
        except Exception:  # noqa: BLE001 -- `=`: ruamel's safe loader has no constructor either
            with pytest.raises(ConfigError):
                config.parse_yaml(f"a: {text}\n")
            continue
        got = config.parse_yaml(f"a: {text}\n")["a"]
        same = type(got) is type(expected) and (
            got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))
        )
        assert same, (text, got, expected)


@pytest.mark.parametrize(
    "text, value",
    [
        ("a: 1:30", "1:30"),
        ("a: yes", "yes"),
        ("a: on", "on"),
        ("a: No", "No"),
        ("a: 012", 12),
        ("a: 3_000", 3000),
        ("a: 1e-05", 1e-05),
        ("a: true", True),
        ("a: FALSE", False),
        ("a: ~", None),
        ("a: -.inf", -math.inf),
    ],
)
def test_yaml_1_1_only_readings_are_strings(text, value):
    """Sexagesimal numbers, yes/no/on/off and leading-zero octal are YAML 1.1 only; DVC reads them otherwise."""
    assert config.parse_yaml(text) == {"a": value}


@pytest.mark.parametrize(
    "text, line",
    [
        ("seed: 1:30", "seed: 1:30 is a string in YAML 1.2 (as DVC reads it); write 90"),
        ("hpo: {tune_lr: on}", "hpo.tune_lr: on is a string in YAML 1.2 (as DVC reads it); write true"),
        ("drmad: {tune_lr: no}", "drmad.tune_lr: no is a string in YAML 1.2 (as DVC reads it); write false"),
        (
            "candidates: {widths: [16, 1:05]}",
            "candidates.widths: 1:05 is a string in YAML 1.2 (as DVC reads it); write 65",
        ),
        (
            "bilevel: {outer_lr: 1:30.5}",
            "bilevel.outer_lr: 1:30.5 is a string in YAML 1.2 (as DVC reads it); write 90.5",
        ),
    ],
)
def test_a_yaml_1_1_number_or_boolean_is_refused_saying_what_to_write(text, line):
    with pytest.raises(ConfigError) as err:
        config.validate_raw(config.parse_yaml(text))
    assert _one_line(err.value) == f"params.yaml: {line}"


def test_underscored_numbers_are_numbers_as_for_dvc():
    assert config.parse_section(config.DataParams, config.parse_yaml("n_train: 3_000"), "data").n_train == 3000


def test_a_string_key_keeps_a_yaml_1_1_word_as_text():
    assert config.parse_section(config.DataParams, config.parse_yaml("cache_dir: yes"), "data").cache_dir == "yes"


def test_merge_keys_still_work():
    assert config.parse_yaml("b: &x {p: 1}\nc:\n  <<: *x\n  q: 2")["c"] == {"p": 1, "q": 2}


# --------------------------------------------------------------------------- shape and size of the file


def _laughs(levels: int) -> str:
    """Each level a list of ten aliases of the one above: 10**levels values from a few hundred bytes."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[" * 5000 + "]" * 5000, "params.yaml: line 1: nested more than 32 levels deep; allowed at most 32"),
        (
            "seed:\n" + "".join("  " * i + "-\n" for i in range(1, 60)),
            "params.yaml: line 33: nested more than 32 levels deep; allowed at most 32",
        ),
        ("data: " + "{a: " * 3000 + "1" + "}" * 3000, "nested more than 32 levels deep"),
        (_laughs(6), "holds more than 100000 values (aliases expanded); allowed at most 100000"),
        ("a: &a [1, *a]\n", "params.yaml: line 1: an alias refers to a value that contains it; not allowed"),
    ],
)
def test_a_deep_or_huge_file_is_one_line(text, fragment):
    with pytest.raises(ConfigError) as err:
        config.parse_yaml(text)
    assert fragment in _one_line(err.value)


def test_a_file_over_a_mebibyte_is_refused_before_parsing(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\n" + "# padding\n" * 110_000)
    with pytest.raises(ConfigError) as err:
        config.read_params(path)
    assert str(err.value) == f"{path}: {path.stat().st_size} bytes; allowed at most 1048576 (a params file, not data)"


def test_the_repository_params_are_far_inside_the_shape_limits():
    from hyperlab.config import yaml_reader

    text = config.REPO_PARAMS.read_text()
    assert len(text.encode()) < yaml_reader.MAX_BYTES // 20
    config.parse_yaml(text)
