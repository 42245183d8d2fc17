"""`dvc exp show` stays legible: metrics/ holds only headline numbers, each taken from its stage's report."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from hyperlab.report import MAX_METRICS, leaves, write_results

REPO = Path(__file__).resolve().parents[1]
# the headline numbers of the stages in REPORTS; sampler_bench's take the rest of MAX_METRICS
EXISTING_BUDGET = 40
# metrics file -> (the module whose `headline(report)` the stage writes, its report)
REPORTS = {
    "bilevel.json": ("hyperlab.bilevel.experiments.order_experiment", "plots/bilevel/report.json"),
    "drmad.json": ("hyperlab.bilevel.experiments.drmad_experiment", "plots/drmad/report.json"),
    "hypernet.json": ("hyperlab.bilevel.experiments.hypernet_experiment", "plots/hypernet/report.json"),
    "candidates.json": ("hyperlab.selection.table.candidates_experiment", "plots/candidates/report.json"),
    "search.json": ("hyperlab.selection.analysis.verdicts", "plots/search/report.json"),
    "l2l.json": ("hyperlab.l2l.eval_experiment", "plots/l2l/report.json"),
    "hpo.json": ("hyperlab.hpo.experiment", "plots/hpo/report.json"),
    "hpo_scale.json": ("hyperlab.hpo.scale_verdict", "plots/hpo_scale/report.json"),
    "hpo_sweep.json": ("hyperlab.hpo.sweep_experiment", "plots/hpo_sweep/report.json"),
}


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
    module, report = REPORTS[metrics_name]
    committed = _committed()
    if metrics_name not in committed:
        pytest.skip(f"metrics/{metrics_name} not committed")
    full = json.loads((REPO / report).read_text())
    assert importlib.import_module(module).headline(full) == committed[metrics_name]


def test_write_results_refuses_a_non_number_headline(tmp_path):
    with pytest.raises(TypeError, match="best_arch"):
        write_results(tmp_path / "m.json", tmp_path / "r.json", {}, {"best_arch": "512-512"})
    assert not (tmp_path / "m.json").exists()
    write_results(tmp_path / "m.json", tmp_path / "r.json", {"x": [1, 2], "y": "s"}, {"a": {"b": 1.5}, "c": None})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": {"b": 1.5}, "c": None}
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": [1, 2], "y": "s"}


def test_every_metrics_file_is_checked_against_its_source():
    assert set(_committed()) == set(REPORTS) | {"sampler_bench.json"}


def test_committed_sampler_bench_headline_is_taken_from_its_plot_data():
    """Its headline reads the committed summary and timing tables (CSV keeps floats exactly, to 17 digits)."""
    import pandas as pd

    from hyperlab.selection.analysis import sampler_bench_experiment

    folder = REPO / "plots" / "sampler_bench"
    head = sampler_bench_experiment.headline(pd.read_csv(folder / "summary.csv"), pd.read_csv(folder / "timing.csv"))
    assert head == pytest.approx(_committed()["sampler_bench.json"], rel=1e-12)
