"""Path keys and the storage's "none" are refused with one line, before a stage creates a file of a wrong name.

A path key (``data.cache_dir``, ``data.idx_dir``, a journal file in ``search.storage``) names something
every system can create: not empty or blank, no blank name between slashes, no control character, no
name over 255 bytes. ``search.storage`` spelling none in another case or with blanks is not a journal
file named ``None``, which a later run would resume from: the line says to write ``none``.
"""

from __future__ import annotations

import pytest

from hyperlab import config
from hyperlab.config import checks, validation

LONG_NAME = "x" * (checks.MAX_NAME_BYTES + 1)


def refusal(section: type, raw: dict, name: str) -> str:
    with pytest.raises(config.ConfigError) as err:
        config.parse_section(section, raw, name)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.mark.parametrize("value", ["None", "NONE", " none", "none ", "\tNone\t", "nOnE"])
def test_storage_spelling_none_otherwise_is_told_to_write_none(value):
    message = refusal(config.SearchParams, {"storage": value}, "search")
    assert message.startswith(f"params.yaml: search.storage: got {value!r}; write none (lower case, no blanks)")


def test_storage_none_and_a_journal_file_are_taken(tmp_path):
    assert config.parse_section(config.SearchParams, {"storage": "none"}, "search").storage == "none"
    journal = str(tmp_path / "none.log")  # a file whose name only starts with none is a journal file
    assert config.parse_section(config.SearchParams, {"storage": journal}, "search").storage == journal


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must name a path (got an empty or blank one)"),
        ("   ", "must name a path (got an empty or blank one)"),
        ("cache/ /mnist", "holds a blank name ' ' between slashes"),
        ("cache\x00mnist", "holds the control character '\\x00'"),
        ("cache\nmnist", "holds the control character '\\n'"),
        (f"cache/{LONG_NAME}", "holds a name of 256 bytes; each file or folder name must be at most 255"),
        ("é" * 128, "holds a name of 256 bytes"),  # 128 characters, 2 bytes each: the limit is in bytes
        ("x" * 1_000_000, "is 1000000 bytes long; must be at most 4096"),
    ],
)
def test_a_bad_cache_dir_is_refused_for_its_reason(value, reason):
    message = refusal(config.DataParams, {"cache_dir": value}, "data")
    assert message.startswith("params.yaml: data.cache_dir: got ") and f"; {reason}" in message, message


def test_a_bad_journal_path_is_refused_as_a_path():
    message = refusal(config.SearchParams, {"storage": "runs/\x01journal.log"}, "search")
    assert message.startswith("params.yaml: search.storage: got ") and "control character '\\x01'" in message


@pytest.mark.parametrize("value", [".cache/mnist", "/tmp/mnist/", "cache//mnist", "é" * 127, "a b/c"])
def test_a_creatable_cache_dir_is_taken(value):
    assert config.parse_section(config.DataParams, {"cache_dir": value}, "data").cache_dir == value


def test_idx_dir_may_be_unset_but_not_blank():
    assert config.parse_section(config.DataParams, {}, "data").idx_dir == ""
    message = refusal(config.DataParams, {"idx_dir": " "}, "data")
    assert message == "params.yaml: data.idx_dir: got ' '; must name a path (got an empty or blank one)"


def test_a_long_value_is_shown_cut_with_its_length():
    shown = validation.shown("y" * 10_000)
    assert shown.startswith("'yyy") and shown.endswith("... (10000 characters)")
    assert len(shown) < validation.MAX_SHOWN + 40
    assert validation.shown("short") == "'short'"


def test_refused_through_params_yaml_too():
    with pytest.raises(config.ConfigError, match=r"^params.yaml: search.storage: got 'None'; write none"):
        config.validate_raw(config.parse_yaml("search: {storage: None}\n"))
    with pytest.raises(config.ConfigError, match=r"^params.yaml: data.cache_dir: got ''; must name a path"):
        config.validate_raw(config.parse_yaml("data: {cache_dir: ''}\n"))
