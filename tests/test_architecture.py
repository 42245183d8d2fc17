"""Arrows point down: every import between the parts of ``hyperlab`` is one the rule table allows.

A *unit* is a top-level module or package of ``src/hyperlab`` (``hyperlab.config``
and ``hyperlab.config.*`` are one unit, whether config is a module or a
package). Each unit may import itself and what the table lists for it, and
nothing else of hyperlab: whole units, or single *leaf* modules of a concept
package -- modules that import nothing of hyperlab, in a package whose
``__init__`` imports nothing either, so importing one runs no experiment code.
Imports are read with ``ast`` wherever they sit (top of the file or inside a
function), relative ones resolved. Stage scripts (``stages/``) may import
anything and are not checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hyperlab"

# ----------------------------------------------------------------------------------------- the rule table
#: Base modules: the plumbing every stage and experiment shares. They import no concept package.
BASE = {"errors", "progress", "io", "report", "data"}
#: Concept packages: one experiment family each. They never import cli, config or plotting.
CONCEPTS = {"selection", "bilevel", "l2l", "training", "hpo", "plotting"}
#: Leaves: the name lists params.yaml may use (defined once, read by config and the figures).
NAME_LISTS = {"bilevel.names", "l2l.names", "selection.names", "hpo.names"}
LEAVES = set(NAME_LISTS)

ALLOWED: dict[str, set[str]] = {
    "hyperlab": set(),                        # the package __init__: a docstring and a version
    # base, bottom up: nothing imports "up" this list
    "errors": set(),
    "progress": set(),
    "io": {"errors"},
    "report": {"errors", "io"},
    "data": {"errors", "io", "report"},
    # the params schema (base modules, and the name lists it checks against) and the stage glue
    "config": BASE | NAME_LISTS,
    "cli": BASE | {"config"},
    # concept packages: base modules; training (what a network is, and the engine that trains and
    # times it) is what selection's experiments drive, and it knows nothing of the search
    "training": set(BASE),
    "selection": BASE | {"training"},
    "bilevel": set(BASE),
    "l2l": set(BASE),
    # the head-to-head on real hyperparameters drives the library's hypergradients and GP sampler
    "hpo": BASE | {"bilevel", "selection"},
    "plotting": {"errors", "io"} | NAME_LISTS,   # figures read plot data files, never the experiments
}


# ----------------------------------------------------------------------------------------- the checker


def unit_of(module: str) -> str:
    """``hyperlab.l2l.pipeline`` -> ``l2l``; ``hyperlab.config.sections`` -> ``config``; ``hyperlab`` -> itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every ``hyperlab`` module an import statement of ``source`` (the code of ``module``) names.

    ``from a import b`` names ``a.b`` when that is a module (``from hyperlab import cli``), else ``a``.
    """
    names: set[str] = set()
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            names.update(subs or [base])
    return {n for n in names if n.startswith("hyperlab.")}  # the bare root holds only a docstring and a version


def allowed(unit: str, name: str) -> bool:
    """May a module of ``unit`` import module ``name``?"""
    target, dotted = unit_of(name), name.removeprefix("hyperlab.")
    return target == unit or target in ALLOWED[unit] or any(
        dotted == leaf or dotted.startswith(f"{leaf}.") for leaf in ALLOWED[unit] & LEAVES)


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports of ``module`` that the rule table forbids, as readable lines."""
    unit = unit_of(module)
    if module.removeprefix("hyperlab.") in LEAVES:
        return [f"{module} (a leaf) imports {name}; a leaf imports nothing of hyperlab"
                for name in sorted(imported_modules(source, module, is_package))]
    return [f"{module} ({unit}) imports {name} ({unit_of(name)}); {unit} may import only "
            f"{', '.join(sorted(ALLOWED[unit])) or 'nothing of hyperlab'}"
            for name in sorted(imported_modules(source, module, is_package)) if not allowed(unit, name)]


def library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


# ----------------------------------------------------------------------------------------- the tests


def test_the_table_is_layered():
    """Base modules allow no concept package; concept packages no cli/config/plotting; no cycle."""
    for unit in BASE:
        assert not {u.split(".")[0] for u in ALLOWED[unit]} & (CONCEPTS | {"cli", "config"}), unit
    for unit in CONCEPTS:
        assert not ALLOWED[unit] & {"cli", "config", "plotting"}, unit
    assert ALLOWED["config"] <= BASE | NAME_LISTS and ALLOWED["cli"] <= BASE | {"config"}

    def reaches(a, b, seen=()):  # a leaf is a node of its own, with no way out
        return any(n == b or (n in ALLOWED and n not in seen and reaches(n, b, (*seen, n))) for n in ALLOWED[a])
    assert not [u for u in ALLOWED if reaches(u, u)], "the rule table has a cycle"


def test_leaves_import_nothing_and_neither_do_their_packages():
    """Importing a leaf runs its package's __init__ too: that must hold no import of hyperlab either."""
    for leaf in sorted(LEAVES):
        package, _, name = leaf.rpartition(".")
        assert (PACKAGE / package / f"{name}.py").is_file(), f"leaf {leaf} not found"
        init = PACKAGE / package / "__init__.py"
        assert imported_modules(init.read_text(), f"hyperlab.{package}", True) == set(), init


def test_every_module_belongs_to_a_unit_of_the_table():
    """A new top-level module or package must be placed in the rule table first."""
    units = {unit_of(module_name(p)) for p in library_files()}
    assert units <= set(ALLOWED), f"not in the rule table: {sorted(units - set(ALLOWED))}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_imports_follow_the_rule_table(path):
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize("module, source, bad", [
    ("hyperlab.data", "from hyperlab.cli import InputError", "hyperlab.cli"),
    ("hyperlab.bilevel.drmad_experiment", "def f():\n    from hyperlab.cli import progress", "hyperlab.cli"),
    ("hyperlab.l2l.weights", "from hyperlab import config", "hyperlab.config"),
    ("hyperlab.l2l.weights", "import hyperlab.config.sections", "hyperlab.config.sections"),
    ("hyperlab.io", "from hyperlab.selection.space import Arch", "hyperlab.selection.space"),
    ("hyperlab.training.network", "from hyperlab.selection.space import width_columns", "hyperlab.selection.space"),
    ("hyperlab.plotting.l2l", "from hyperlab.l2l.evaluate import BASELINES", "hyperlab.l2l.evaluate"),
    ("hyperlab.bilevel.toy", "from ..plotting import surfaces", "hyperlab.plotting.surfaces"),
    ("hyperlab.training.mlp", "from hyperlab.selection.candidates import SETS", "hyperlab.selection.candidates"),
    ("hyperlab.config.schema", "from hyperlab.bilevel.hypernet import KINDS", "hyperlab.bilevel.hypernet"),
    ("hyperlab.selection.names", "from hyperlab.errors import InputError", "hyperlab.errors"),
])
def test_a_forbidden_import_is_named(module, source, bad):
    found = violations(source, module)
    assert len(found) == 1 and found[0].startswith(f"{module} (") and f"imports {bad}" in found[0], found


def test_allowed_imports_pass():
    assert violations("from hyperlab.training.network import Arch\nfrom hyperlab.errors import InputError",
                      "hyperlab.training.mlp") == []
    assert violations("from hyperlab.config import ConfigError\nfrom hyperlab.io import stage_outputs",
                      "hyperlab.cli") == []
    assert violations("from . import optimizee", "hyperlab.l2l.pipeline") == []
    assert violations("from hyperlab.bilevel.names import HYPERNET_KINDS", "hyperlab.config.schema") == []
    assert violations("from hyperlab.training.trainer import train_space", "hyperlab.selection.x") == []
