"""params.yaml validation: every kind of bad input gives one line naming key, value and what is allowed."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field

from hyperlab import config
from hyperlab.config import ConfigError, Section, parse_section
from hyperlab.config.fields import Flag, Int, List, Number, Text


class Example(Section):
    count: Int = Field(3, ge=1, le=10)
    rate: Number = Field(0.1, gt=0)
    mode: Literal["a", "b"] = "a"
    sizes: List[Annotated[Int, Field(ge=1)]] = Field((1, 2), min_length=1)
    flag: Flag = False
    path: Text | None = None


def test_defaults_and_coercion():
    out = parse_section(Example, {"rate": 2, "sizes": [4, 5], "path": "x"}, "ex")
    assert out == Example(count=3, rate=2.0, mode="a", sizes=(4, 5), flag=False, path="x")
    assert isinstance(out.rate, float)
    assert parse_section(Example, None, "ex") == Example()


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"colour": 1}, "ex.colour: unknown key; allowed: count, rate, mode, sizes, flag, path"),
        ({"count": "3"}, "ex.count: got '3'; must be integer"),
        ({"count": 2.5}, "ex.count: got 2.5; must be integer"),
        ({"count": True}, "ex.count: got True; must be integer"),
        ({"count": 0}, "ex.count: got 0; must be >= 1"),
        ({"count": 11}, "ex.count: got 11; must be <= 10"),
        ({"rate": 0}, "ex.rate: got 0; must be > 0"),
        ({"rate": float("nan")}, "ex.rate: got nan; must be a finite number"),
        ({"rate": float("inf")}, "ex.rate: got inf; must be a finite number"),
        ({"sizes": [1, float("inf")]}, "ex.sizes: got [1, inf]; must be a list of integer"),
        ({"mode": "c"}, "ex.mode: got 'c'; allowed: a, b"),
        ({"sizes": []}, "ex.sizes: got []; must have at least 1 element(s)"),
        ({"sizes": [1, 0]}, "ex.sizes: got [1, 0]; must be >= 1"),
        ({"sizes": 3}, "ex.sizes: got 3; must be a list of integer"),
        ({"flag": 1}, "ex.flag: got 1; must be boolean"),
        ({"path": 3}, "ex.path: got 3; must be string or null"),
    ],
)
def test_bad_values_name_key_value_and_allowed(raw, fragment):
    with pytest.raises(ConfigError) as err:
        parse_section(Example, raw, "ex")
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message


def test_section_must_be_mapping():
    with pytest.raises(ConfigError, match=r"ex: got \[1\]; must be a mapping"):
        parse_section(Example, [1], "ex")


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.read_params(tmp_path / "params.yaml")


def test_unparsable_params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  n_train: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+\)"):
        config.read_params(path)


def test_params_file_must_be_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        config.read_params(path)


def test_unknown_top_level_key(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\nsed: 1\n")
    with pytest.raises(ConfigError, match="sed: unknown top-level key"):
        config.read_params(path)


def test_common_seed_and_order(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 7\norder: 2\n")
    assert config.load_common(path) == config.Common(seed=7, order=2)
    path.write_text("seed: -1\n")
    with pytest.raises(ConfigError, match=r"^params.yaml: seed: got -1; must be >= 0$"):
        config.load_common(path)


def test_repository_params_are_valid():
    """The committed params.yaml passes every section's validation."""
    config.validate_all(config.REPO_PARAMS)


class Inner(Section):
    k: Int = Field(1, ge=1)


class Outer(Section):
    inner: Inner = Field(default_factory=Inner)
    named: dict[Literal["a", "b"], Inner] = Field(default_factory=lambda: {"a": Inner()}, min_length=1)


def test_nested_sections():
    out = parse_section(Outer, {"inner": {"k": 3}, "named": {"b": {"k": 2}, "a": None}}, "o")
    assert out.inner == Inner(k=3) and out.named == {"b": Inner(k=2), "a": Inner(k=1)}
    assert parse_section(Outer, {}, "o") == Outer()


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"inner": {"k": 0}}, "o.inner.k: got 0; must be >= 1"),
        ({"inner": {"j": 1}}, "o.inner.j: unknown key; allowed: k"),
        ({"named": {"c": {}}}, "o.named.c: unknown entry; allowed: a, b"),
        ({"named": {"a": {"k": "x"}}}, "o.named.a.k: got 'x'; must be integer"),
        ({"named": {}}, "o.named: got {}; must have at least 1 entry"),
        ({"named": [1]}, "o.named: got [1]; must be a mapping"),
    ],
)
def test_nested_errors_name_the_full_key(raw, fragment):
    with pytest.raises(ConfigError) as err:
        parse_section(Outer, raw, "o")
    assert fragment in str(err.value)


def test_order_must_be_one_of_the_bilevel_orders(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("order: 4\nbilevel:\n  orders: [0, 1, 2]\n")
    with pytest.raises(ConfigError, match=r"^params.yaml: order: got 4; must be one of bilevel.orders \(0, 1, 2\)$"):
        config.validate_all(path)
    path.write_text("order: 2\nbilevel:\n  orders: [0, 1, 2]\n")
    config.validate_all(path)


def test_sections_are_frozen_and_lists_are_tuples():
    from pydantic import ValidationError

    p = parse_section(config.CandidatesParams, {"layers": [1, 2]}, "candidates")
    assert p.layers == (1, 2) and isinstance(p.layers, tuple) and isinstance(p.learning_rate, float)
    with pytest.raises(ValidationError, match="frozen"):
        p.epochs = 3


def test_only_a_yaml_list_is_a_list():
    """A YAML set (``!!set``) or mapping has no order: refused where a list is asked for."""
    for text in ("layers: !!set {1, 2}", "layers: {1: 2}"):
        with pytest.raises(ConfigError, match=r"candidates.layers: got .*; must be a list of integer$"):
            parse_section(config.CandidatesParams, config.parse_yaml(text), "candidates")


# --------------------------------------------------------------------------- search: storage and heartbeats


@pytest.mark.parametrize(
    "raw, line",
    [
        ({"heartbeat_seconds": 0}, "params.yaml: search.heartbeat_seconds: got 0; must be >= 1"),
        ({"heartbeat_seconds": 3601}, "params.yaml: search.heartbeat_seconds: got 3601; must be <= 3600"),
        ({"heartbeat_seconds": 1.5}, "params.yaml: search.heartbeat_seconds: got 1.5; must be integer"),
        ({"heartbeat_grace_seconds": 1}, "params.yaml: search.heartbeat_grace_seconds: got 1; must be >= 2"),
        (
            {"heartbeat_seconds": 10, "heartbeat_grace_seconds": 10},
            "params.yaml: search.heartbeat_grace_seconds: got 10; must be > search.heartbeat_seconds (10)",
        ),
    ],
)
def test_bad_heartbeat_settings_are_one_line_naming_the_key(raw, line):
    with pytest.raises(ConfigError) as err:
        parse_section(config.SearchParams, raw, "search")
    assert str(err.value).startswith(line) and "\n" not in str(err.value), str(err.value)


def test_heartbeat_settings_within_bounds_are_taken():
    p = parse_section(config.SearchParams, {"heartbeat_seconds": 5, "heartbeat_grace_seconds": 30}, "search")
    assert (p.heartbeat_seconds, p.heartbeat_grace_seconds) == (5, 30)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://hyperlab:s3cr3t@db-host/hyperlab",
        "postgresql://hyperlab:s3cr3t@db-host:5432/hyperlab",
        "postgresql+psycopg2://hyperlab@db-host/hyperlab?password=s3cr3t",
        "nosuchdb://hyperlab:s3cr3t@db-host/x",  # refused for the password before the scheme: never echoed
    ],
)
def test_a_storage_url_with_a_password_is_refused_without_echoing_it(url):
    with pytest.raises(ConfigError) as err:
        parse_section(config.SearchParams, {"storage": url}, "search")
    message = str(err.value)
    assert message.startswith("params.yaml: search.storage: the URL holds a password") and "\n" not in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message and "s3cr3t" not in message


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg2://hyperlab@db-host/hyperlab", "postgresql+psycopg2://hyperlab@/postgres?host=/tmp/s"]
)
def test_a_storage_url_without_a_password_is_taken(url):
    assert parse_section(config.SearchParams, {"storage": url}, "search").storage == url
