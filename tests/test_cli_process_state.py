"""Process-wide switches have one owner: Optuna's log level is set by ``hyperlab.cli`` alone, x64 by stage scripts.

Both are global to the process: a library module that set them would silently change every later
study or computation of the same process (the last call wins). Read from the syntax tree of ``src/``.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import optuna
import pytest

from hyperlab import cli
from hyperlab.selection.study.pool import pool_map

SRC = Path(__file__).resolve().parents[1] / "src"


def calls_named(source: str, name: str) -> list[int]:
    """Lines where ``source`` calls a function or method named ``name`` or passes the string ``name``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name or any(isinstance(a, ast.Constant) and a.value == name for a in node.args):
                lines.append(node.lineno)
    return lines


def library_sites(name: str) -> dict[str, list[int]]:
    sites = {}
    for path in sorted(SRC.rglob("*.py")):
        found = calls_named(path.read_text(encoding="utf-8"), name)
        if found:
            sites[path.relative_to(SRC).as_posix()] = found
    return sites


def test_calls_named_finds_calls_and_switch_names_only():
    source = 'import jax\njax.config.update("jax_enable_x64", True)\nx = "jax_enable_x64"\nset_verbosity(1)\n'
    assert calls_named(source, "jax_enable_x64") == [2]
    assert calls_named(source, "set_verbosity") == [4]


def test_only_cli_sets_optuna_verbosity():
    """Pool workers get the stage's level through ``setup`` (:func:`~hyperlab.selection.study.pool.pool_map`),
    not from a call of their own."""
    sites = library_sites("set_verbosity")
    assert list(sites) == ["hyperlab/cli.py"], f"sets Optuna's level outside hyperlab.cli: {sorted(sites)}"


def test_library_never_flips_x64():
    """x64 is a stage's decision (stages/drmad.py, stages/hpo_scale.py), made before any array exists."""
    assert library_sites("jax_enable_x64") == {}
    assert library_sites("enable_x64") == {}


@pytest.fixture
def restore_logging():
    before = optuna.logging.get_verbosity(), logging.getLogger("jax").level
    yield
    optuna.logging.set_verbosity(before[0])
    logging.getLogger("jax").setLevel(before[1])


def test_setup_logging_sets_optuna_level_once(restore_logging):
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    cli.setup_logging()
    assert optuna.logging.get_verbosity() == cli.OPTUNA_LEVEL == logging.WARNING
    assert logging.getLogger("jax").level == logging.WARNING


def _optuna_level(_job) -> int:
    return optuna.logging.get_verbosity()


def test_spawned_pool_workers_run_the_stages_setup():
    """A spawned worker starts with Optuna at its default (INFO: a line per trial); the stage's setup makes it
    the stage's level."""
    levels = pool_map(_optuna_level, [0, 1], 2, "test", "the level check", "", setup=cli.setup_logging)
    assert levels == [cli.OPTUNA_LEVEL, cli.OPTUNA_LEVEL] and cli.OPTUNA_LEVEL != optuna.logging.INFO
