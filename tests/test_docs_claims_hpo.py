"""The HPO pages' claims catch what they should: each sentence the committed files once contradicted fails.

The planted cases are the sentences the HPO pages and README rows used to carry against the data:
wall-clock columns of an earlier run, "exact is the best gradient method", "in half DrMAD's
wall clock", random search "barely moves h0's coordinates", "CMA-ES is worse still", "the
test-validation gap grows with d", "half of that gain is fitted", "6 passes" of ``online5`` and
"45 × 5 runs". Each is shown to fail two ways where it can: written on the page, the sentence is a
comparative one that no registered claim covers (``uncovered``); registered with the check of
what it says, the committed files contradict it (``claim_problems``). The registered sentences
that replaced them pass on the committed files (``tests/test_docs_claims.py``); here, planted
changes to those files make them fail too.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import docs_claims_hpo as hpo
import docs_claims_hpo_scale as scale
import pytest
from test_docs_claims import CLAIMS, SCOPES, Claim, Committed, claim_problems, uncovered

from conftest import REPO

_spec = importlib.util.spec_from_file_location("docs_tables", REPO / "scripts" / "docs_tables.py")
assert _spec is not None and _spec.loader is not None
docs_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_tables)

DATA = Committed(REPO)


def _text(page: str) -> str:
    return (REPO / page).read_text()


def _inserted(page: str, heading: str, sentence: str) -> str:
    """``page``'s text with ``sentence`` as a new first bullet of the section ``heading``."""
    text = _text(page)
    assert text.count(f"## {heading}\n") == 1
    return text.replace(f"## {heading}\n", f"## {heading}\n\n- {sentence}\n", 1)


def _unregistered(page: str, heading: str, sentence: str) -> list[str]:
    anchors = [c.anchor for c in CLAIMS if c.page == page]
    return uncovered(_inserted(page, heading, sentence), SCOPES[page], anchors)


def _fails(page: str, sentence: str, check) -> list[str]:
    """The problems of ``sentence``, registered with ``check``, on its page with the sentence added."""
    heading = "Verdicts" if page != "README.md" else "Results at a glance"
    text = _inserted(page, heading, sentence)
    return claim_problems(Claim(page, sentence, check), text, DATA)


# ------------------------------------------------------------------------------ the nine planted cases


def test_wall_clock_columns_of_an_earlier_run_are_caught(tmp_path):
    """The page's 4 s column showing TPE's median of an earlier run (0.005 off the committed one): the generated
    block is stale, and rendering it again restores the committed value."""
    for rel in ("docs", "plots/hpo", "plots/hpo_scale"):
        shutil.copytree(REPO / rel, tmp_path / rel, ignore=shutil.ignore_patterns("*.png"))
    page = tmp_path / "docs" / "hpo.md"
    text = page.read_text()
    block = text.split("<!-- generated: hpo-wall -->", 1)[1].split("<!-- end generated -->", 1)[0]
    row = next(line for line in block.splitlines() if line.startswith("| `tpe` |"))
    committed = row.split("|")[2].split("[")[0].strip()  # the 4 s column's median
    earlier = f"{float(committed) + 0.005:.3f}"
    page.write_text(text.replace(row, row.replace(f"| {committed} [", f"| {earlier} [", 1), 1))
    rendered = docs_tables.render(page.read_text(), tmp_path)
    assert rendered != page.read_text() and f"| {committed} [" in rendered and f"| {earlier} [" not in rendered


def test_exact_as_the_best_gradient_method_fails():
    sentence = "`exact` is the best gradient method."
    assert _unregistered("docs/hpo.md", "Verdicts", sentence) == [f"- {sentence}"]
    (problem, *_) = _fails("docs/hpo.md", sentence, hpo.best_gradient_method("exact"))
    assert "the best gradient method is drmad" in problem


def test_a_wall_clock_ratio_is_never_registered():
    """The sentence "in half DrMAD's wall clock": one loaded run supports no ratio, so no claim covers it and
    it fails as unregistered wherever it is written in the scanned parts."""
    sentence = "TPE gets there in half DrMAD's wall clock."
    assert _unregistered("docs/hpo.md", "Verdicts", sentence) == [f"- {sentence}"]
    assert _unregistered("docs/hpo-scale.md", "Verdicts", sentence) == [f"- {sentence}"]


def test_random_search_barely_moving_h0_fails():
    sentence = "Random search barely moves h0's coordinates."
    assert _unregistered("docs/hpo.md", "Verdicts", sentence) == [f"- {sentence}"]
    wrong = hpo.random_moves_every_coordinate_by_more_than(5.0)  # "barely moves" is "not even by 5": contradicted
    assert hpo.random_moves_every_coordinate_by_more_than(1.0)(DATA) == []
    assert wrong(DATA) and "within" in wrong(DATA)[0]


def test_cmaes_worse_still_fails():
    """The sentence "CMA-ES is worse still" (the worst search method above d = 3): it is the best one at d = 27."""
    sentence = "CMA-ES is worse still."
    assert _unregistered("docs/hpo-scale.md", "Verdicts", sentence) == [f"- {sentence}"]
    problems = _fails("docs/hpo-scale.md", sentence, scale.cmaes_rank((), (18, 27, 162, 12705)))
    assert f"docs/hpo-scale.md: {sentence!r}: CMA-ES is not the worst search method at d = 27" in problems


def test_a_gap_that_grows_with_d_fails():
    sentence = "The test−validation gap grows with d."
    assert _unregistered("docs/hpo-scale.md", "Verdicts", sentence) == [f"- {sentence}"]
    (problem,) = _fails("docs/hpo-scale.md", sentence, scale.gap_grows_with_d)
    assert "the gap does not grow from d = " in problem


def test_a_fifth_of_the_gain_fitted_fails_in_the_readme():
    """README: half of DrMAD's validation gain over the best search method at d = 12,705 is fitted: "a fifth"
    is contradicted, "half" holds; the edited row is also no longer the registered sentence."""
    assert scale.share_fitted("drmad", "hesbo", 0.5, 0.05)(DATA) == []
    wrong = scale.share_fitted("drmad", "hesbo", 0.2, 0.05)(DATA)
    assert wrong and "of the gain is fitted" in wrong[0]
    edited = _text("README.md").replace("half of that gain is fitted", "a fifth of that gain is fitted")
    claim = next(c for c in CLAIMS if c.anchor == "half of that gain is fitted to the validation set")
    assert any(p.endswith("no longer on the page") for p in claim_problems(claim, edited, DATA))
    anchors = [c.anchor for c in CLAIMS if c.page == "README.md"]
    assert any("a fifth of that gain is fitted" in s for s in uncovered(edited, SCOPES["README.md"], anchors))


@pytest.mark.parametrize("passes, ok", [(10, True), (5, False)])
def test_online5_passes(passes, ok):
    assert (scale.online_passes(passes)(DATA) == []) is ok


@pytest.mark.parametrize("pairs, ok", [(48, True), (45, False), (43, False)])
def test_the_number_of_runs(pairs, ok):
    assert (scale.runs_count(pairs)(DATA) == []) is ok


# ------------------------------------------------------------- registered sentences against planted data


def _planted_summary(tmp_path, **val_loss: float) -> Committed:
    """The committed ``plots/hpo`` with ``report.json``'s median validation CE of some methods replaced."""
    shutil.copytree(REPO / "plots/hpo", tmp_path / "plots/hpo")
    report = DATA.json("plots/hpo/report.json")
    for row in report["summary"]:
        row["val_loss"] = val_loss.get(row["method"], row["val_loss"])
    (tmp_path / "plots/hpo/report.json").write_text(json.dumps(report))
    return Committed(tmp_path)


def test_a_rerun_that_makes_exact_the_best_fails_the_drmad_sentence(tmp_path):
    data = _planted_summary(tmp_path, exact=0.470)
    claim = next(c for c in CLAIMS if c.anchor == "**`drmad` has the lowest median of the gradient methods**")
    (problem,) = claim_problems(claim, _text("docs/hpo.md"), data)
    assert "the best gradient method is exact" in problem


def test_a_rerun_that_spreads_the_medians_fails_level(tmp_path):
    data = _planted_summary(tmp_path, tpe=0.440)
    assert hpo.level_within_the_spread(data) and hpo.level_within_the_spread(DATA) == []


def test_the_hpo_scopes_skip_generated_blocks_and_tables():
    parts = SCOPES["docs/hpo.md"](_text("docs/hpo.md"))
    assert parts and not any("<!-- generated" in p or p.lstrip().startswith("|") for p in parts)
    assert any("**GP-EI leads early.**" in p for p in parts)


def test_a_nan_hypergradient_error_stays_nan_in_the_generated_block(tmp_path):
    """A diverged hypergradient (NaN) is written NaN in the accuracy block, never dropped, 0 or inf."""
    shutil.copytree(REPO / "plots/hpo", tmp_path / "plots/hpo")
    report = DATA.json("plots/hpo/report.json")
    row = next(r for r in report["accuracy"] if r["method"] == "drmad" and r["point"] == 2)
    row["rel_err"], row["cosine"] = float("nan"), float("nan")
    (tmp_path / "plots/hpo/report.json").write_text(json.dumps(report))
    block = docs_tables.TABLES["hpo-accuracy"][1](tmp_path)
    third = next(line for line in block.splitlines() if line.startswith("| 2: "))
    assert "| NaN (NaN) |" in third and "inf" not in third.lower()
