"""`dvc exp show` stays legible: metrics/ holds only headline numbers, each taken from its stage's report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from hyperlab.report import MAX_METRICS, leaves, write_results

REPO = Path(__file__).resolve().parents[1]
# room left under MAX_METRICS for stages still to come (sampler_bench: about 6)
EXISTING_BUDGET = 32
# metrics file -> (stage script, its report)
REPORTS = {"bilevel.json": ("bilevel", "plots/bilevel/report.json"),
           "drmad.json": ("drmad", "plots/drmad/report.json"),
           "hypernet.json": ("hypernet", "plots/hypernet/report.json"),
           "candidates.json": ("candidates", "plots/candidates/report.json"),
           "search.json": ("compare", "plots/search/report.json"),
           "l2l_train.json": ("l2l_train", "plots/l2l/meta_report.json"),
           "l2l.json": ("l2l", "plots/l2l/report.json")}


def _stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((REPO / "metrics").glob("*.json"))}


def test_committed_metrics_fit_the_column_budget():
    columns = {f"{name}:{k}": v for name, m in _committed().items() for k, v in leaves(m).items()}
    assert len(columns) <= MAX_METRICS, f"{len(columns)} metric columns: {sorted(columns)}"
    ours = [c for c in columns if c.split(":")[0] in REPORTS]
    assert len(ours) <= EXISTING_BUDGET, f"{len(ours)} metric columns: {sorted(ours)}"
    assert all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in columns.values())


@pytest.mark.parametrize("metrics_name", sorted(REPORTS))
def test_committed_headline_is_taken_from_the_committed_report(metrics_name):
    stage, report = REPORTS[metrics_name]
    committed = _committed()
    if metrics_name not in committed:
        pytest.skip(f"metrics/{metrics_name} not committed")
    full = json.loads((REPO / report).read_text())
    assert _stage(stage).headline(full) == committed[metrics_name]


def test_write_results_refuses_a_non_number_headline(tmp_path):
    with pytest.raises(TypeError, match="best_arch"):
        write_results(tmp_path / "m.json", tmp_path / "r.json", {}, {"best_arch": "512-512"})
    assert not (tmp_path / "m.json").exists()
    write_results(tmp_path / "m.json", tmp_path / "r.json", {"x": [1, 2], "y": "s"}, {"a": {"b": 1.5}, "c": None})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": {"b": 1.5}, "c": None}
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": [1, 2], "y": "s"}
