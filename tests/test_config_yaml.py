"""params.yaml is read by ruamel.yaml, as DVC reads it: whole documents read to what DVC's own parser returns.

The scalar table, the bounds on size and depth and the one-line errors are in tests/test_params_fuzz.py;
here, documents with anchors, aliases and merge keys, compared with ``dvc.utils.serialize.parse_yaml``
(what ``dvc params diff`` and ``dvc exp run -S`` read).
"""

from __future__ import annotations

import pytest
from dvc.utils.serialize import parse_yaml as dvc_parse_yaml

from hyperlab import config
from hyperlab.config import ConfigError

DOCUMENTS = [
    "seed: 0\norder: 1e-05\nbilevel: {orders: [0, 1, 0x2], h0: .5, w0: -.inf}\n",
    "base: &b {lr: 0.1, steps: 3}\nrun:\n  <<: *b\n  steps: 5\n",
    # a mapping that merges and overrides, itself merged elsewhere: the merge sees its final values
    "c: &c\n  <<: {p: 1}\n  p: 2\nd:\n  <<: *c\n  r: 1\ne: *c\n",
    "a: &a [1, 2]\nb: [*a, *a]\nwhen: 2001-12-14\nflag: on\ntime: 1:30\n",
    "x:\n  <<: [{p: 1}, {p: 2, q: 3}]\n  r: 4\n",
    "",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_documents_read_as_dvc_reads_them(text):
    got = config.parse_yaml(text)
    expected = dvc_parse_yaml(text, "params.yaml")
    assert (got if got is not None else {}) == expected
    assert config.parse_yaml(text) == got  # no state kept between reads


def test_a_key_repeated_beside_a_merge_is_refused():
    """ruamel.yaml lets the last value win in a mapping that merges; a repeated key is still a mistake here."""
    text = "run:\n  <<: {lr: 0.1}\n  steps: 3\n  steps: 5\n"
    assert dvc_parse_yaml(text, "params.yaml") == {"run": {"lr": 0.1, "steps": 5}}
    with pytest.raises(ConfigError, match=r"^params.yaml: not valid YAML \(line 4\): duplicate key 'steps'$"):
        config.parse_yaml(text)


def test_overriding_a_merged_key_is_not_a_repeat():
    assert config.parse_yaml("b: &b {p: 1}\nc:\n  <<: *b\n  p: 2\nd: *b\n") == {
        "b": {"p": 1},
        "c": {"p": 2},
        "d": {"p": 1},
    }


def test_the_yaml_1_1_reading_names_what_to_write():
    from hyperlab.config.yaml_reader import yaml11_reading

    assert [yaml11_reading(t) for t in ("1:30", "yes", "Off", "1:30.5")] == ["90", "true", "false", "90.5"]
    assert [yaml11_reading(t) for t in ("1e-05", "abc", "'3'", "012")] == [None, None, None, None]
