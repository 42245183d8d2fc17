"""The type checker sees a section's keys: a misspelt key is a mypy error, not a failure minutes into a stage.

:func:`hyperlab.config.load_section` is overloaded per section name, and experiments annotate their
``params`` with the section model, so mypy (``make typecheck``) knows both. Checked here on a small
planted file, with the project's mypy settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mypy import api

from hyperlab.config import SECTIONS

ROOT = Path(__file__).resolve().parents[1]

PLANTED = """\
from hyperlab import config
from hyperlab.config import BilevelParams


def run(params: BilevelParams) -> float:
    return params.outer_lr + params.n_trails


n = config.load_section("search").n_trails
ok = config.load_section("search").n_trials + config.load_section("bilevel").outer_steps
"""


def mypy_errors(source: str, tmp_path: Path, monkeypatch) -> list[str]:
    """mypy's error lines on ``source`` (hyperlab read from src/, the settings of pyproject.toml)."""
    path = tmp_path / "planted.py"
    path.write_text(source)
    monkeypatch.setenv("MYPYPATH", str(ROOT / "src"))
    args = ["--config-file", str(ROOT / "pyproject.toml"), "--follow-imports=silent"]
    out, err, _ = api.run([*args, "--cache-dir", str(tmp_path / "cache"), str(path)])
    assert err == ""
    return [line for line in out.splitlines() if ": error:" in line]


def test_mypy_names_a_misspelt_key_of_a_loaded_or_annotated_section(tmp_path, monkeypatch):
    errors = mypy_errors(PLANTED, tmp_path, monkeypatch)
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"{tmp_path / 'planted.py'}:6: error: ")
    assert '"BilevelParams" has no attribute "n_trails"' in errors[0]
    assert errors[1].startswith(f"{tmp_path / 'planted.py'}:9: error: ")
    assert '"SearchParams" has no attribute "n_trails"; maybe "n_trials"?' in errors[1]


def first_arguments(source: str) -> dict[str, str | None]:
    """``{name: annotation of the first argument}`` of the module-level ``run`` and ``render`` of ``source``."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in ("run", "render") and node.args.args:
            annotation = node.args.args[0].annotation
            found[node.name] = ast.unparse(annotation) if annotation is not None else None
    return found


def test_every_experiment_run_and_figure_render_takes_a_typed_section():
    """An experiment's ``run(params, <inputs>)`` and a figure family's ``render(params)`` annotate the section they
    are given with its model, so that mypy checks every key they read (not only those of ``load_section``)."""
    models = {model.__name__ for model in SECTIONS.values()}
    untyped = []
    for path in sorted((ROOT / "src" / "hyperlab").rglob("*.py")):
        rel = path.relative_to(ROOT / "src" / "hyperlab").as_posix()
        for name, annotation in first_arguments(path.read_text(encoding="utf-8")).items():
            typed = annotation is not None and annotation.split(".")[-1] in models
            if not typed:
                untyped.append(f"src/hyperlab/{rel}: {name}'s first argument is {annotation}; annotate its section")
    assert untyped == [], untyped


def test_first_arguments_reads_module_level_run_and_render_only():
    source = "def run(params: BilevelParams, n): ...\nclass A:\n    def run(self): ...\ndef render(p): ...\n"
    assert first_arguments(source) == {"run": "BilevelParams", "render": None}
