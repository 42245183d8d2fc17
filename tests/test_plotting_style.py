"""Every method a figure family draws has one style, distinct within the family and the same across families.

The methods are read from the committed plot data under ``plots/<stage>/`` (what the figures draw),
not from the figure modules, so a strategy, order or meta-seed that an experiment adds shows up
here before anyone looks at a figure. No JAX: only pandas and the style table.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from hyperlab.plotting import style

PLOTS = Path(__file__).resolve().parents[1] / "plots"
QUANTILE = re.compile(r"^(.+)_q(?:25|75)$")


def _search(folder: Path) -> set[str]:
    """Strategies of ``plots/search``: long tables' ``strategy`` / ``a``, ``b`` columns, wide tables' headers."""
    names: set[str] = set()
    for path in sorted(folder.glob("*.csv")):
        table = pd.read_csv(path)
        if "strategy" in table:
            names |= set(table["strategy"].astype(str))
        elif {"a", "b"} <= set(table.columns):
            names |= set(table["a"].astype(str)) | set(table["b"].astype(str))
        else:  # wide: <strategy>, <strategy>_q25, <strategy>_q75 per strategy
            names |= {m.group(1) for c in table.columns if (m := QUANTILE.match(str(c)))}
    return names


def _column(file: str, column: str) -> Callable[[Path], set[str]]:
    def read(folder: Path) -> set[str]:
        path = folder / file
        return set(pd.read_csv(path)[column].astype(str)) if path.is_file() else set()

    return read


def _drmad(folder: Path) -> set[str]:
    """``outer_<method>.csv``: ``K<k>`` (K-piece reverse pass, K1 = DrMAD) and ``exact``."""
    return {p.stem.removeprefix("outer_") for p in folder.glob("outer_*.csv")}


def _bilevel(folder: Path) -> set[str]:
    """``order_<n>.csv`` -> ``order<n>``; ``exact.csv`` -> ``exact``."""
    names = {f"order{m.group(1)}" for p in folder.glob("order_*.csv") if (m := re.fullmatch(r"order_(\d+)", p.stem))}
    return names | ({"exact"} if (folder / "exact.csv").is_file() else set())


def _l2l(folder: Path) -> set[str]:
    """The optimizer columns of ``base_loss.csv`` (every column but ``step``)."""
    path = folder / "base_loss.csv"
    return set(pd.read_csv(path, nrows=0).columns) - {"step"} if path.is_file() else set()


def _hypernet(folder: Path) -> set[str]:
    """``curves/<variant>_<kind>.csv`` -> ``<kind>``."""
    return {p.stem.split("_", 1)[1] for p in (folder / "curves").glob("*_*.csv")}


#: Figure family -> (plot-data folder, the methods it draws).
FAMILIES: dict[str, tuple[str, Callable[[Path], set[str]]]] = {
    "search": ("search", _search),
    "sampler_bench": ("sampler_bench", _column("curves.csv", "sampler")),
    "hpo": ("hpo", _column("summary.csv", "method")),
    "hpo_scale": ("hpo_scale", _column("summary.csv", "method")),
    "drmad": ("drmad", _drmad),
    "bilevel": ("bilevel", _bilevel),
    "l2l": ("l2l", _l2l),
    "hypernet": ("hypernet", _hypernet),
}
#: Spellings of one method in different families' plot data: each pair must be drawn alike.
ALIASES = (("drmad", "K1"), ("drmad", "kpiece1"), ("kpiece4", "K4"), ("online1", "order1"), ("online5", "order5"))


def methods(family: str, root: Path = PLOTS) -> set[str]:
    """The methods figure family ``family`` draws, read from its plot data under ``root``."""
    folder, read = FAMILIES[family]
    return read(root / folder)


def check_family(family: str, root: Path = PLOTS) -> dict[str, style.Style]:
    """Every method of ``family`` styled and pairwise distinct: ``KeyError`` / ``ValueError`` otherwise."""
    names = methods(family, root)
    assert names, f"no methods found in the plot data of figure family {family!r} under {root / FAMILIES[family][0]}"
    return style.styles(sorted(names))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_method_of_a_family_has_its_own_style(family):
    table = check_family(family)
    keys = [s.key for s in table.values()]
    assert len(set(keys)) == len(keys)
    assert all(s.label for s in table.values())


def test_a_method_drawn_in_several_families_has_one_style():
    """gp_ei, tpe, random, exact, ... look the same in every family; aliases (drmad / K1) too."""
    drawn: dict[str, list[str]] = {}
    for family in FAMILIES:
        for name in methods(family):
            drawn.setdefault(name, []).append(family)
    shared = {n: fams for n, fams in drawn.items() if len(fams) > 1}
    assert {"gp_ei", "tpe", "random", "exact"} & set(shared), shared  # the check is not vacuous
    for name, fams in shared.items():
        looks = {fam: check_family(fam)[name] for fam in fams}
        assert len(set(looks.values())) == 1, (name, looks)
    for a, b in ALIASES:
        assert style.style(a)[1:] == style.style(b)[1:], (a, b)  # same colour, marker, line style
    assert style.style("drmad") == style.style("K1")


def test_a_planted_duplicate_colour_is_caught(monkeypatch):
    """Two search strategies given one look: the family check raises, naming both."""
    monkeypatch.setitem(style.FIXED, "tpe", style.FIXED["gp_ei"]._replace(label="TPE"))
    with pytest.raises(ValueError, match="gp_ei.*tpe|tpe.*gp_ei"):
        check_family("search")


def test_a_planted_method_without_a_style_is_caught(tmp_path):
    """A strategy the style table does not know, added to a copy of the plot data: KeyError naming it."""
    shutil.copytree(PLOTS / "sampler_bench", tmp_path / "sampler_bench")
    curves = tmp_path / "sampler_bench" / "curves.csv"
    table = pd.read_csv(curves)
    planted = table.iloc[:1].assign(sampler="planted_sampler")
    pd.concat([table, planted]).to_csv(curves, index=False)
    with pytest.raises(KeyError, match="planted_sampler"):
        check_family("sampler_bench", root=tmp_path)
