"""The HPO pages' results tables equal what scripts/docs_tables.py generates from the committed files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_tables", REPO / "scripts" / "docs_tables.py")
docs_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_tables)


def test_every_generated_table_is_current():
    assert docs_tables.stale() == []


def test_every_table_is_on_its_page_once():
    for name, (page, _) in docs_tables.TABLES.items():
        assert (REPO / page).read_text().count(f"<!-- generated: {name} -->") == 1, (name, page)


@pytest.fixture
def copy(tmp_path) -> Path:
    for rel in (
        "docs",
        "plots/hpo",
        "plots/hpo_scale",
        "plots/hpo_sweep",
        "plots/sampler_bench",
        "plots/search",
        "plots/candidates",
        "plots/l2l",
    ):
        shutil.copytree(REPO / rel, tmp_path / rel, ignore=shutil.ignore_patterns("*.png"))
    return tmp_path


def test_an_edited_cell_is_caught(copy):
    page = copy / "docs" / "hpo.md"
    text = page.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `tpe` |"))
    page.write_text(text.replace(row, row.replace("| `tpe` |", "| `tpe` | 0.001 |", 1), 1))
    assert docs_tables.stale(copy) == ["docs/hpo.md"]


def test_a_rerun_that_moves_a_number_is_caught(copy):
    summary = copy / "plots" / "hpo_scale" / "summary.csv"
    summary.write_text(summary.read_text().replace("0.4755178", "0.4955178", 1))
    assert docs_tables.stale(copy) == ["docs/hpo-scale.md"]


def test_an_unknown_table_name_is_refused(copy):
    with pytest.raises(KeyError, match="unknown generated table 'hpo-nothing'"):
        docs_tables.render("<!-- generated: hpo-nothing -->\n<!-- end generated -->\n", copy)
