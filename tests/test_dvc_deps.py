"""dvc.yaml never lies: every stage depends on every library file its script imports.

The import closure of each ``stages/<x>.py`` is computed from the source with
``ast`` (module-level and function-level imports, package ``__init__`` files,
``from pkg import submodule``), so a new import without a new dependency fails
here, naming the stage and the file, instead of leaving ``dvc status`` "up to
date" over stale results.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name != "__init__" else rel.parts[:-1]
    return ".".join(parts)


def _imported(path: Path) -> set[str]:
    """Every hyperlab module ``path`` imports, wherever the import statement sits."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing file's package
                pkg = _package_of(path).split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return {n for n in names if n == "hyperlab" or n.startswith("hyperlab.")}


def import_closure(script: Path, extra: tuple[str, ...] = ()) -> set[Path]:
    """Library files (repo-relative) that running ``script`` executes: its imports, transitively."""
    seen: set[Path] = set()
    todo = [_imported(script) | set(extra)]
    while todo:
        for name in todo.pop():
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                file = _module_file(".".join(parts[:i]))
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(_imported(file))
    return {p.relative_to(REPO) for p in seen}


# Imports a static reading cannot see: stages/figures.py imports hyperlab.plotting.<its argument>.
def _dynamic(script: str, args: list[str]) -> tuple[str, ...]:
    if script == "stages/figures.py":
        stage_module = _load_stage("figures")
        return tuple(f"hyperlab.plotting.{a}" for a in (args or stage_module.FAMILIES))
    return ()


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expand_stages(dvc: dict, params: dict) -> dict[str, dict]:
    """dvc.yaml's stages with every foreach expanded (``${key}`` / ``${item}`` substituted)."""
    out = {}
    for name, stage in dvc["stages"].items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        items = stage["foreach"]
        if isinstance(items, str):  # ${a.b}: a mapping from params.yaml
            items = params
            for key in items_path(stage["foreach"]):
                items = items[key]
        pairs = items.items() if isinstance(items, dict) else ((i, i) for i in items)
        for key, item in pairs:
            text = yaml.safe_dump(stage["do"]).replace("${key}", str(key))
            if not isinstance(item, (dict, list)):
                text = text.replace("${item}", str(item))
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


def items_path(expr: str) -> list[str]:
    return re.fullmatch(r"\$\{(.+)\}", expr).group(1).split(".")


def _dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]


def missing_deps(stage: dict) -> tuple[str, list[Path]]:
    """(script, library files it imports that none of the stage's deps covers)."""
    cmd = stage["cmd"].split()
    script = next(t for t in cmd if t.startswith("stages/") and t.endswith(".py"))
    args = cmd[cmd.index(script) + 1 :]
    deps = [Path(d) for d in _dep_paths(stage)]
    needed = {Path(script)} | import_closure(REPO / script, _dynamic(script, args))
    missing = sorted(f for f in needed if not any(f == d or d in f.parents for d in deps))
    return script, missing


@pytest.fixture(scope="module")
def stages() -> dict[str, dict]:
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    return expand_stages(dvc, params)


@pytest.mark.slow
def test_every_stage_depends_on_every_library_file_it_imports(stages):
    problems = []
    for name, stage in stages.items():
        script, missing = missing_deps(stage)
        problems += [f"stage {name} ({script}) imports {f} but does not depend on it" for f in missing]
    assert not problems, "\n".join(problems)


def test_a_removed_dependency_is_named(stages):
    stage = copy.deepcopy(stages["candidates"])
    stage["deps"] = [d for d in stage["deps"] if d != "src/hyperlab/data"]
    # a package's __init__ imports every module of it: each one is named
    assert missing_deps(stage)[1] == sorted(p.relative_to(REPO) for p in (SRC / "hyperlab" / "data").glob("*.py"))
    # a function-level import counts as much as one at the top of the file
    stage = copy.deepcopy(stages["l2l"])
    stage["deps"] = [d for d in stage["deps"] if d != "src/hyperlab/report.py"]
    assert missing_deps(stage)[1] == [Path("src/hyperlab/report.py")]


def test_the_closure_follows_packages_and_transitive_imports():
    closure = import_closure(REPO / "stages" / "search.py")
    for f in (
        "src/hyperlab/__init__.py",
        "src/hyperlab/cli.py",
        "src/hyperlab/config/__init__.py",
        "src/hyperlab/selection/__init__.py",
        "src/hyperlab/selection/study/strategies.py",
        "src/hyperlab/selection/samplers/gp/sampler.py",
        "src/hyperlab/selection/samplers/gp/optim.py",
        "src/hyperlab/selection/table/benchmark.py",
    ):
        assert Path(f) in closure
    assert not any("plotting" in str(p) for p in closure)


def test_figure_families_match_the_plotting_modules(stages):
    import hyperlab.plotting

    figures = _load_stage("figures")
    drawable = {
        m.name
        for m in pkgutil.iter_modules(hyperlab.plotting.__path__)
        if hasattr(importlib.import_module(f"hyperlab.plotting.{m.name}"), "render")
    }
    in_dvc = {name.split("@", 1)[1] for name in stages if name.startswith("figures@")}
    assert set(figures.FAMILIES) == drawable == in_dvc


def test_every_stage_imports_the_library_of_its_own_checkout(stages):
    # a queued experiment runs in a copy of the repository: `python stages/x.py` alone would import
    # the workspace's editable install (tests/test_dvc_queue.py shows the difference end to end)
    wrong = [name for name, stage in stages.items() if not stage["cmd"].startswith("PYTHONPATH=src python stages/")]
    assert wrong == []


def test_bytecode_next_to_the_sources_is_no_dependency():
    """Importing the library writes ``__pycache__`` next to its sources (``make`` unexports
    PYTHONDONTWRITEBYTECODE): a dependency folder must hash the same with it, or every stage looks changed
    after a test run and ``make repro`` recomputes the whole pipeline."""
    bytecode = ["src/hyperlab/io/__pycache__/atomic.cpython-311.pyc", "stages/__pycache__/search.cpython-311.pyc"]
    sources = ["src/hyperlab/io/atomic.py", "stages/search.py"]
    check = [sys.executable, "-m", "dvc", "check-ignore", "--non-matching", "--details", *bytecode, *sources]
    lines = subprocess.run(check, cwd=REPO, capture_output=True, text=True, check=False).stdout.splitlines()
    ignored = {line.split("\t")[-1] for line in lines if not line.startswith("::")}
    assert ignored == set(bytecode), lines
