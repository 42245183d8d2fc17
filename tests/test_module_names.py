"""One meaning per name: no two modules of ``src/hyperlab`` share a file name, save the stated exceptions.

A reader who meets ``latency.py`` or ``summary.py`` in a traceback, a ``dvc.yaml`` dep or a docs
page should know which one is meant without its package. The exceptions, each a family of files
that mean the same thing in every package:

- ``__init__.py``;
- ``names.py``: each package's names ``params.yaml`` may give its choices (methods, strategies);
- the modules of ``config/sections/`` and ``plotting/`` named after the stage or the params section
  they serve (``plotting/drmad.py`` draws the ``drmad`` stage, ``config/sections/l2l.py`` is the
  ``l2l`` section): the name is checked to BE a stage of ``dvc.yaml`` or a section of ``params.yaml``.

A module anywhere else may not share a name with any other module, exempt or not: a library module
called ``candidates.py`` would give the name of the ``candidates`` stage a second meaning.
:data:`STAGE_NAMESAKES` holds the library modules that ARE the method their stage is named after.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hyperlab"

#: File names that mean the same thing in every package.
SHARED_NAMES = {"__init__.py", "names.py"}
#: Folders whose modules are named after the stage or params section they serve.
SECTION_FOLDERS = ("config/sections", "plotting")
#: Library modules that are the method the stage of the same name runs (DrMAD, the hypernetwork): the stage
#: and its figure are named after them, so the name has one meaning.
STAGE_NAMESAKES = {"bilevel/drmad.py", "bilevel/hypernet.py"}


def stage_and_section_names() -> set[str]:
    """Every stage of ``dvc.yaml`` and every top-level key of ``params.yaml``."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return set(stages) | set(params)


def is_section_module(rel: str) -> bool:
    """Does ``rel`` (a path under src/hyperlab) sit directly in a folder of :data:`SECTION_FOLDERS`?"""
    return str(Path(rel).parent) in SECTION_FOLDERS


def duplicates(rels: list[str], served: set[str]) -> list[str]:
    """Readable lines for every module of ``rels`` whose file name has a second meaning.

    A file name shared only by exempt modules (:data:`SHARED_NAMES`, section/figure modules named after
    one of ``served``) is fine; a non-exempt module must be the only one with its name.
    """
    by_name: dict[str, list[str]] = defaultdict(list)
    for rel in rels:
        by_name[Path(rel).name].append(rel)
    found = []
    for name, paths in sorted(by_name.items()):
        if name in SHARED_NAMES or len(paths) == 1:
            continue
        lone = [p for p in paths if not (is_section_module(p) and Path(p).stem in served)]
        for path in sorted(set(lone) - STAGE_NAMESAKES):
            others = ", ".join(p for p in sorted(paths) if p != path)
            found.append(f"src/hyperlab/{path}: the name {name} is also {others}; give it a name of its own")
    return found


def library_modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def test_every_module_name_has_one_meaning():
    assert duplicates(library_modules(), stage_and_section_names()) == []


def test_the_exception_set_holds_only_what_still_needs_it():
    """An exception whose file was renamed (or whose twin went away) is removed: the set only shrinks."""
    listed = STAGE_NAMESAKES
    rels = library_modules()
    names = [Path(r).name for r in rels]
    stale = [rel for rel in sorted(listed) if rel not in rels or names.count(Path(rel).name) == 1]
    assert stale == [], "no longer needed: remove from the exception set"


@pytest.mark.parametrize(
    "rels, bad",
    [
        # two library modules with one name
        (["training/latency.py", "selection/table/latency.py"], ["training/latency.py", "selection/table/latency.py"]),
        # a library module named after a stage whose figure module exists
        (["plotting/candidates.py", "selection/table/candidates.py"], ["selection/table/candidates.py"]),
        # a figure module NOT named after a stage or section gets no exemption
        (["plotting/summary.py", "l2l/summary.py"], ["plotting/summary.py", "l2l/summary.py"]),
        # a module one level below plotting/ is not a figure module
        (["plotting/x/drmad.py", "config/sections/drmad.py"], ["plotting/x/drmad.py"]),
    ],
)
def test_a_second_meaning_is_named(rels, bad):
    found = duplicates(rels, {"candidates", "drmad"})
    assert sorted(line.split(":")[0] for line in found) == sorted(f"src/hyperlab/{b}" for b in bad), found


def test_exempt_families_pass():
    rels = ["__init__.py", "l2l/__init__.py", "l2l/names.py", "hpo/names.py"]
    rels += ["plotting/drmad.py", "config/sections/drmad.py", "plotting/l2l.py", "config/sections/l2l.py"]
    assert duplicates(rels, {"drmad", "l2l"}) == []
