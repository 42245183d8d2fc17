"""Arrows point down: every import between the parts of ``hyperlab`` is one the rule table allows.

A *unit* is a top-level module or package of ``src/hyperlab`` (``hyperlab.config``
and ``hyperlab.config.*`` are one unit, whether config is a module or a
package). Each unit may import itself and what the table lists for it, and
nothing else of hyperlab: whole units, or single *leaf* modules of a concept
package -- modules that import nothing of hyperlab, in a package whose
``__init__`` imports nothing either, so importing one runs no experiment code.
Imports are read with ``ast`` wherever they sit (top of the file or inside a
function), relative ones resolved; the one import not counted is of the params
section models (``hyperlab.config``) under ``if TYPE_CHECKING:``, which only
the type checker reads, so that an experiment's ``params`` can be annotated with
its section. Stage scripts (``stages/``) may import anything and are not checked here.

Inside :mod:`hyperlab.selection` the sub-packages are units of their own
(``selection.space``, ``selection.table``, ...), layered by :data:`SELECTION`:
the space at the bottom, the analysis at the top. So is ``bilevel.experiments``
(:data:`BILEVEL`): the toy experiments of the bilevel stages sit on top of the
hypergradient library, which imports them no more than any other package does.

One rule is about a third party: importing every module of the package imports no PyTorch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hyperlab"

# ----------------------------------------------------------------------------------------- the rule table
#: Base modules: the plumbing every stage and experiment shares (io and data are packages, each one unit).
#: They import no concept package.
BASE = {"errors", "progress", "io", "report", "data", "compile_cache", "backend", "engine"}
#: Concept packages: one experiment family each. They never import cli, config or plotting.
CONCEPTS = {"selection", "bilevel", "l2l", "training", "hpo", "plotting"}
#: Leaves: the name lists params.yaml may use (defined once, read by config and the figures).
NAME_LISTS = {"bilevel.names", "l2l.names", "selection.names", "hpo.names"}
#: Pure geometry the candidates stage marks the true front with (imports nothing of hyperlab).
GEOMETRY = {"selection.analysis.fronts"}
#: What a network on MNIST is (N_INPUTS, N_CLASSES, widths, FLOPs), named once: imports nothing of hyperlab.
NETWORK = {"training.network"}
LEAVES = NAME_LISTS | GEOMETRY | NETWORK

ALLOWED: dict[str, set[str]] = {
    "hyperlab": set(),  # the package __init__: a docstring and a version
    # base, bottom up: nothing imports "up" this list
    "errors": set(),
    "progress": set(),
    "compile_cache": set(),  # where JAX keeps compiled programs (stages, tests, benches)
    "backend": set(),  # what JAX may do differently on a GPU: precision, preallocation
    "io": {"errors"},
    "report": {"errors", "io"},
    "data": {"errors", "io", "report"},
    "engine": {"errors", "compile_cache", "backend"},  # a stage's units shared by workers through an Optuna storage
    # the params schema (base modules, and the name lists it checks against) and the stage glue
    "config": BASE | NAME_LISTS,
    "cli": BASE | {"config"},
    # concept packages: base modules; training (what a network is, and the engine that trains and
    # times it) is what selection's experiments drive, and it knows nothing of the search
    "training": set(BASE),
    "selection": BASE | {"training"},
    "bilevel": set(BASE),
    "l2l": BASE | NETWORK,  # the MNIST sizes (N_INPUTS, N_CLASSES) from where they are named
    # the head-to-head on real hyperparameters drives the library's hypergradients and GP samplers (alone)
    "hpo": BASE | {"bilevel", "selection.samplers"} | NETWORK,
    "plotting": {"errors", "io"} | NAME_LISTS,  # figures read plot data files, never the experiments
}

#: The sub-packages of selection, bottom up, and what each may import of selection besides itself and
#: ``selection`` proper (its docstring ``__init__`` and the name list), on top of what the ``selection``
#: unit may import from outside.
SELECTION: dict[str, set[str]] = {
    "selection.space": set(),  # the networks and their encoding: the bottom
    "selection.samplers": set(),  # Optuna samplers: usable in any study, know no table
    "selection.table": {"selection.space"} | GEOMETRY,
    "selection.study": {"selection.space", "selection.table", "selection.samplers"},
    "selection.analysis": {"selection.space", "selection.table", "selection.samplers", "selection.study"},
}
ALLOWED.update({unit: {"selection", *inside} for unit, inside in SELECTION.items()})

#: The sub-packages of bilevel that are units of their own, and what each may import of bilevel: the experiments
#: (what the bilevel, drmad and hypernet stages run) drive the library; ``bilevel`` in a rule (hpo's) means the
#: library alone, so nothing but the stages imports an experiment.
BILEVEL: dict[str, set[str]] = {"bilevel.experiments": {"bilevel"}}
ALLOWED.update(BILEVEL)

#: Every sub-package that is a unit of its own.
SUB_UNITS = SELECTION.keys() | BILEVEL.keys()


# ----------------------------------------------------------------------------------------- the checker


def unit_of(module: str) -> str:
    """``hyperlab.l2l.pipeline`` -> ``l2l``; ``hyperlab.config.sections`` -> ``config``; ``hyperlab`` -> itself;
    ``hyperlab.selection.study.runner`` -> ``selection.study`` (a sub-package of :data:`SUB_UNITS`)."""
    parts = module.split(".")
    if len(parts) > 2 and f"{parts[1]}.{parts[2]}" in SUB_UNITS:
        return f"{parts[1]}.{parts[2]}"
    return parts[1] if len(parts) > 1 else parts[0]


def outer(unit: str) -> str:
    """The top-level unit ``unit`` is part of (``selection.table`` -> ``selection``)."""
    return unit.split(".")[0]


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
    tree = ast.parse(source)
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in _walk_body(block)}
    for node in ast.walk(tree):
        found: set[str] = set()
        if isinstance(node, ast.Import):
            found = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            found = set(subs or [base])
        if id(node) in typing_only:  # the section models, for annotations only: `if TYPE_CHECKING:` never runs
            found = {n for n in found if not (n == "hyperlab.config" or n.startswith("hyperlab.config."))}
        names.update(found)
    return {n for n in names if n.startswith("hyperlab.")}  # the bare root holds only a docstring and a version


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``), no ``else``: a block mypy reads and Python never runs."""
    if not isinstance(node, ast.If) or node.orelse:
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_body(node: ast.If) -> list[ast.AST]:
    return [n for stmt in node.body for n in ast.walk(stmt)]


def allowed(unit: str, name: str) -> bool:
    """May a module of ``unit`` import module ``name``?

    Inside selection or bilevel, the sub-package rules; across top-level units, the outer unit's rules. An
    entry names one unit: ``selection.samplers`` allows that sub-package alone, ``bilevel`` the library and
    not ``bilevel.experiments``.
    """
    target, dotted = unit_of(name), name.removeprefix("hyperlab.")
    if any(dotted == leaf or dotted.startswith(f"{leaf}.") for leaf in ALLOWED[unit] & LEAVES):
        return True
    if target == unit or target in ALLOWED[unit]:
        return True
    if outer(unit) == outer(target):
        return False  # inside one package only the sub-package rules count
    return target in ALLOWED[outer(unit)]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports of ``module`` that the rule table forbids, as readable lines."""
    unit = unit_of(module)
    if module.removeprefix("hyperlab.") in LEAVES:
        return [
            f"{module} (a leaf) imports {name}; a leaf imports nothing of hyperlab"
            for name in sorted(imported_modules(source, module, is_package))
        ]
    may = ALLOWED[unit] | (ALLOWED[outer(unit)] if outer(unit) != unit else set())
    return [
        f"{module} ({unit}) imports {name} ({unit_of(name)}); {unit} may import only "
        f"{', '.join(sorted(may)) or 'nothing of hyperlab'}"
        for name in sorted(imported_modules(source, module, is_package))
        if not allowed(unit, name)
    ]


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
        *packages, name = leaf.split(".")
        assert PACKAGE.joinpath(*packages, f"{name}.py").is_file(), f"leaf {leaf} not found"
        for depth in range(1, len(packages) + 1):  # every package on the way is imported too
            init = PACKAGE.joinpath(*packages[:depth], "__init__.py")
            assert imported_modules(init.read_text(), "hyperlab." + ".".join(packages[:depth]), True) == set(), init


def test_sub_packages_are_layered():
    """Arrows point down inside selection too: the space imports none of the others, the samplers know no
    table or study, the table no sampler, study or analysis; no cycle (checked with the whole table).
    Inside bilevel the experiments drive the library, and no rule lets anything import them."""
    assert SELECTION["selection.space"] == set() and ALLOWED["selection"] == BASE | {"training"}
    assert not SELECTION["selection.samplers"] & {"selection.table", "selection.study", "selection.analysis"}
    assert not SELECTION["selection.table"] & {"selection.samplers", "selection.study", "selection.analysis"}
    assert "selection.analysis" not in SELECTION["selection.study"]
    assert set(SELECTION) == {
        f"selection.{p.name}" for p in (PACKAGE / "selection").iterdir() if (p / "__init__.py").is_file()
    }
    assert BILEVEL["bilevel.experiments"] == {"bilevel"}
    assert not [unit for unit, may in ALLOWED.items() if may & BILEVEL.keys() and unit not in BILEVEL]
    assert set(BILEVEL) == {
        f"bilevel.{p.name}" for p in (PACKAGE / "bilevel").iterdir() if (p / "__init__.py").is_file()
    }


def test_every_module_belongs_to_a_unit_of_the_table():
    """A new top-level module or package must be placed in the rule table first."""
    units = {unit_of(module_name(p)) for p in library_files()}
    assert units <= set(ALLOWED), f"not in the rule table: {sorted(units - set(ALLOWED))}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_imports_follow_the_rule_table(path):
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    "module, source, bad",
    [
        ("hyperlab.data", "from hyperlab.cli import InputError", "hyperlab.cli"),
        ("hyperlab.data.splits_file", "from hyperlab.config import split_sizes", "hyperlab.config"),
        ("hyperlab.io.manifest", "from hyperlab.report import Result", "hyperlab.report"),
        (
            "hyperlab.bilevel.experiments.drmad_experiment",
            "def f():\n    from hyperlab.cli import progress",
            "hyperlab.cli",
        ),
        # only the section models may be imported for annotations alone, and only under TYPE_CHECKING
        (
            "hyperlab.l2l.x",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hyperlab.cli",
            "hyperlab.cli",
        ),
        ("hyperlab.l2l.x", "from hyperlab.config import L2LParams", "hyperlab.config"),
        # of training, hpo and l2l may read only what a network on MNIST is, not the trainer
        ("hyperlab.l2l.x", "from hyperlab.training.mlp import MLP", "hyperlab.training.mlp"),
        ("hyperlab.l2l.weights", "from hyperlab import config", "hyperlab.config"),
        ("hyperlab.l2l.weights", "import hyperlab.config.sections", "hyperlab.config.sections"),
        (
            "hyperlab.io",
            "from hyperlab.selection.space.architectures import Arch",
            "hyperlab.selection.space.architectures",
        ),
        (
            "hyperlab.training.network",
            "from hyperlab.selection.space.architectures import width_columns",
            "hyperlab.selection.space.architectures",
        ),
        ("hyperlab.plotting.l2l", "from hyperlab.l2l.evaluate import BASELINES", "hyperlab.l2l.evaluate"),
        ("hyperlab.bilevel.toy", "from ..plotting import surfaces", "hyperlab.plotting.surfaces"),
        # the hypergradient library never imports the experiments that drive it, nor does another package
        (
            "hyperlab.bilevel.hypergrad",
            "from hyperlab.bilevel.experiments.convergence import steps_to_tol",
            "hyperlab.bilevel.experiments.convergence",
        ),
        (
            "hyperlab.bilevel.hypernet",
            "from .experiments import convergence",
            "hyperlab.bilevel.experiments.convergence",
        ),
        (
            "hyperlab.hpo.gradient",
            "from hyperlab.bilevel.experiments import drmad_experiment",
            "hyperlab.bilevel.experiments.drmad_experiment",
        ),
        (
            "hyperlab.training.mlp",
            "from hyperlab.selection.table.candidate_table import SETS",
            "hyperlab.selection.table.candidate_table",
        ),
        ("hyperlab.config.schema", "from hyperlab.bilevel.hypernet import KINDS", "hyperlab.bilevel.hypernet"),
        ("hyperlab.selection.names", "from hyperlab.errors import InputError", "hyperlab.errors"),
        (
            "hyperlab.selection.samplers.gp.sampler",
            "from hyperlab.selection.study.runner import RunSpec",
            "hyperlab.selection.study.runner",
        ),
        (
            "hyperlab.selection.samplers.cost_tpe",
            "from hyperlab.selection.table.table import Table",
            "hyperlab.selection.table.table",
        ),
        (
            "hyperlab.selection.space.encoding",
            "from hyperlab.selection.table.validate import TableError",
            "hyperlab.selection.table.validate",
        ),
        (
            "hyperlab.selection.table.benchmark",
            "from hyperlab.selection.study.strategies import Networks",
            "hyperlab.selection.study.strategies",
        ),
        (
            "hyperlab.selection.table.candidate_table",
            "from hyperlab.selection.analysis.regret import band",
            "hyperlab.selection.analysis.regret",
        ),
        (
            "hyperlab.selection.study.runner",
            "from hyperlab.selection.analysis.compare import compare",
            "hyperlab.selection.analysis.compare",
        ),
        (
            "hyperlab.hpo.bayes",
            "from hyperlab.selection.study.strategies import make_sampler",
            "hyperlab.selection.study.strategies",
        ),
    ],
)
def test_a_forbidden_import_is_named(module, source, bad):
    found = violations(source, module)
    assert len(found) == 1 and found[0].startswith(f"{module} (") and f"imports {bad}" in found[0], found


def test_allowed_imports_pass():
    typed = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from hyperlab.config import L2LParams\n"
    assert violations(typed, "hyperlab.l2l.x") == []  # a section model for annotations only
    assert violations("from hyperlab.training.network import N_CLASSES, N_INPUTS", "hyperlab.hpo.x") == []
    assert (
        violations(
            "from hyperlab.training.network import Arch\nfrom hyperlab.errors import InputError",
            "hyperlab.training.mlp",
        )
        == []
    )
    assert (
        violations("from hyperlab.config import ConfigError\nfrom hyperlab.io import stage_outputs", "hyperlab.cli")
        == []
    )
    assert violations("from . import optimizee", "hyperlab.l2l.pipeline") == []
    assert violations("from hyperlab.io.manifest import STAGING", "hyperlab.io.recovery") == []
    assert violations("from .sources import Pools\nfrom hyperlab.io import write_bytes", "hyperlab.data.splits") == []
    assert violations("from hyperlab.bilevel.names import HYPERNET_KINDS", "hyperlab.config.schema") == []
    assert violations("from hyperlab.training.trainer import train_space", "hyperlab.selection.table.x") == []
    assert violations("from hyperlab.selection.samplers.gp import GPEISampler", "hyperlab.hpo.bayes") == []
    assert violations("from hyperlab.bilevel import drmad as dm", "hyperlab.hpo.gradient") == []
    assert (
        violations(
            "from hyperlab.bilevel import hypernet\nfrom hyperlab.progress import Progress\nfrom . import convergence",
            "hyperlab.bilevel.experiments.hypernet_experiment",
        )
        == []
    )
    assert (
        violations(
            "from hyperlab.selection.table.table import Table\nfrom hyperlab.errors import InputError",
            "hyperlab.selection.study.runner",
        )
        == []
    )
    assert (
        violations(
            "from hyperlab.selection.analysis.fronts import true_front", "hyperlab.selection.table.candidate_table"
        )
        == []
    )


# ----------------------------------------------------------------------------------------- no PyTorch


@pytest.mark.slow
def test_no_module_imports_torch():
    """Import every hyperlab module (and the stage scripts' libraries) in a fresh interpreter."""
    code = (
        "import importlib, pkgutil, sys, hyperlab\n"
        "for m in pkgutil.walk_packages(hyperlab.__path__, 'hyperlab.'):\n"
        "    importlib.import_module(m.name)\n"
        "import optuna, sklearn, flax, optax\n"
        "bad = sorted(n for n in sys.modules if n == 'torch' or n.startswith('torch.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"torch imported: {out.stdout}"
