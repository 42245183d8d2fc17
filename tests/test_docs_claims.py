"""The comparative sentences of the docs hold on the committed files.

A sentence that compares or judges (best, beats, worse, falls, climbs back, never, only, not
significantly, far less, ...) and is neither a generated block (``<!-- generated: ... -->``) nor a
linked number of the README's "Results at a glance" table (those are ``tests/test_docs.py``'s) is
registered here as a :class:`Claim`: its page, an *anchor* (words of the sentence, compared with
the page's text with runs of whitespace squashed to one space and links reduced to their text) and
a check that reads the committed files (``metrics/*.json``, ``plots/**/report.json``, CSVs) and
returns what contradicts the sentence. A claim fails when its page no longer contains the anchor
(the sentence was edited: register the new wording) or when the data contradict it (the
sentence, or the results, changed).

To add a page: append its claims to :data:`CLAIMS`, and, where every comparative sentence of a
part of the page should be registered, a scope to :data:`SCOPES` (each sentence there with a word
of :data:`COMPARATIVE` must contain an anchor, or be listed in :data:`NOT_CLAIMS` with the reason).

Seeded with the README's glance rows outside HPO and learning to learn, ``docs/bilevel.md``'s
verdicts and limits, and what ``docs/pipeline.md`` says of committed files (its other comparative
sentences are timings of a machine, measured again by ``bench/feedback.py``, not committed data).
The architecture-search page's Results prose is scanned with its generated blocks left out (they
are ``scripts/docs_tables.py``'s); claims tie its robust-verdict list to ``report.json``.
The learning-to-learn, DrMAD, candidates, GP-sampler, hypernetwork and distributed pages register theirs in
``tests/docs_claims_<page>.py`` (:data:`PAGE_MODULES`; their planted cases: ``tests/test_docs_claims_pages.py``).
Reads text, JSON, CSV and ``params.yaml`` only (the instruction-set claim also reads the sources).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docs_claims_candidates as candidates_claims
import docs_claims_distributed as distributed_claims
import docs_claims_drmad as drmad_claims
import docs_claims_gp_samplers as gp_claims
import docs_claims_hpo as hpo_claims
import docs_claims_hypernet as hypernet_claims
import docs_claims_l2l as l2l_claims
import pandas as pd
import pytest
import yaml

from conftest import REPO

#: A Holm-corrected p-value below this is "significant" (the architecture-search page's rule).
ALPHA = 0.05


class Committed:
    """The committed outputs under ``root``: the repository, or a copy with a planted change."""

    def __init__(self, root: Path):
        self.root = root

    def json(self, path: str) -> Any:
        return json.loads((self.root / path).read_text())

    def csv(self, path: str) -> pd.DataFrame:
        return pd.read_csv(self.root / path)

    def params(self) -> dict:
        return yaml.safe_load((self.root / "params.yaml").read_text())


@dataclass(frozen=True)
class Claim:
    page: str  # repository-relative
    anchor: str  # words of the sentence, as the page has them (whitespace and links aside)
    check: Callable[[Committed], list[str]]  # what in the data contradicts the sentence; [] if nothing


def squash(text: str) -> str:
    """``text`` with each link reduced to its text and each run of whitespace to one space."""
    return " ".join(re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text).split())


def rounds_to(value: float, shown: str) -> bool:
    """``value`` written with as many significant digits as ``shown`` (``5.8e-4``, ``1.069``) is ``shown``."""
    digits = len(re.sub(r"^0\.0*|[.-]|e.*$", "", shown.lstrip("-")))
    return f"{float(value):.{max(digits, 1)}g}" == f"{float(shown):.{max(digits, 1)}g}"


def claim_problems(claim: Claim, text: str, data: Committed) -> list[str]:
    """Why ``claim`` no longer holds on the page ``text`` and the files of ``data``: [] when it does."""
    where = f"{claim.page}: {claim.anchor!r}"
    problems = [] if squash(claim.anchor) in squash(text) else [f"{where}: no longer on the page"]
    try:
        problems += [f"{where}: {p}" for p in claim.check(data)]
    except (OSError, KeyError, IndexError, ValueError) as err:
        problems.append(f"{where}: its source cannot be read ({type(err).__name__}: {err})")
    return problems


def _unless(ok: bool, problem: str) -> list[str]:
    return [] if ok else [problem]


# ------------------------------------------------------------------------------------ the checks


def _search(data: Committed) -> dict:
    return data.json("plots/search/report.json")


def _paired(data: Committed) -> pd.DataFrame:
    """Every paired test of the search study on every table realization (``compare``'s ``paired_verdicts.csv``)."""
    return data.csv("plots/search/paired_verdicts.csv").fillna({"winner": ""})


def _test_rows(data: Committed, regret: str, test: str, a: str, b: str) -> pd.DataFrame:
    pv = _paired(data)
    return pv[(pv.regret == regret) & (pv.test == test) & (pv.a == a) & (pv.b == b)]


def _holds_everywhere(data: Committed, rows: pd.DataFrame, winner: str) -> list[str]:
    """``rows`` (one test) name ``winner`` at Holm p <= ALPHA on every realization, flagged robust."""
    n = _search(data)["table_realizations"]
    ok = len(rows) == n and set(rows.winner) == {winner} and (rows.p_holm <= ALPHA).all() and rows.robust.all()
    return _unless(bool(ok), f"{winner} wins on {(rows.winner == winner).sum()} of {n} realizations")


def _verdicts_on_every_realization(data: Committed) -> list[str]:
    """Two or more realizations, and every robust row's test has one winner on all of them."""
    n = _search(data)["table_realizations"]
    out = _unless(n >= 2, f"{n} table realization(s)")
    robust = _paired(data)[lambda d: d.robust.astype(bool)]
    for key, g in robust.groupby(["regret", "test", "a", "b"]):
        out += _unless(len(g) == n and g.winner.nunique() == 1 and "" not in set(g.winner), f"{key} is not robust")
    return out


def _gp_ei_beats_uniform_on_realization_0_only(data: Committed) -> list[str]:
    rows = _test_rows(data, "search", "vs_baseline", "gp_ei", "random_uniform").sort_values("realization")
    won = [w == "gp_ei" for w in rows.winner]
    return _unless(won[:1] == [True] and not any(won[1:]), f"gp_ei wins on realizations {won}")


def _pairwise_holds_everywhere(data: Committed, a: str, b: str, winner: str) -> list[str]:
    pv = _paired(data)
    rows = pv[(pv.regret == "search") & (pv.test == "pairwise") & (pv.a.isin([a, b])) & (pv.b.isin([a, b]))]
    return _holds_everywhere(data, rows, winner)


def _gp_ei_variants_beat_layerwise_random(data: Committed) -> list[str]:
    return [
        p
        for s in ("gp_ei", "gp_ei_per_second", "gp_ei_per_ms_latency")
        for p in _pairwise_holds_everywhere(data, s, "random_layerwise", s)
    ]


def _constrained_and_motpe_worse_than_uniform(data: Committed) -> list[str]:
    return [
        p
        for s in ("gp_ei_constrained", "tpe_constrained", "motpe")
        for p in _pairwise_holds_everywhere(data, s, "random_uniform", "random_uniform")
    ]


def _gp_ei_never_repeats(data: Committed) -> list[str]:
    out = []
    for r, part in enumerate(_search(data)["realizations"]):
        reps = {s: part["strategies"][s]["repeats_per_study"] for s in ("gp_ei", "tpe")}
        out += _unless(reps["gp_ei"] == 0 < reps["tpe"], f"realization {r}: repeats per study {reps}")
    return out


#: A robust sentence of ``report.json`` (:func:`hyperlab.selection.analysis.robust.robust_verdicts`).
_ROBUST = re.compile(r"^(\w+) regret: (\S+) lower than (\S+) \((one-sided vs the baseline|two-sided);")


def _page_states_the_report_robust_list(data: Committed) -> list[str]:
    """The page's robust list (from ``paired_verdicts.csv``) is ``report.json``'s ``paired_verdicts.robust``,
    and its not-robust table has as many rows as ``paired_verdicts.not_robust``."""
    said = _search(data)["paired_verdicts"]
    from_report, out = set(), []
    for sentence in said["robust"]:
        m = _ROBUST.match(sentence)
        out += _unless(m is not None, f"unreadable robust sentence {sentence!r}")
        if m:
            from_report.add((m[1], "vs_baseline" if m[4].startswith("one") else "pairwise", m[2], m[3]))
    pv = _paired(data)
    rob = pv[pv.robust.astype(bool)]
    from_csv = {(r.regret, r.test, r.winner, r.b if r.winner == r.a else r.a) for r in rob.itertuples()}
    out += _unless(from_report == from_csv, f"report.json {sorted(from_report)} vs the CSV {sorted(from_csv)}")
    some = pv.groupby(["regret", "test", "a", "b"]).winner.agg(lambda w: set(w) != {""})
    split = int(some.sum()) - len(from_csv)
    return out + _unless(split == len(said["not_robust"]), f"{split} split tests vs {len(said['not_robust'])}")


#: Where a pinned XLA:CPU instruction set would be written: the stages' environment, the library, the pipeline.
_PIN_PLACES = ("src/**/*.py", "stages/*.py", "dvc.yaml", "Makefile", "params.yaml")


def _isa_not_pinned(data: Committed) -> list[str]:
    """No file the pipeline runs sets ``--xla_cpu_max_isa`` (once one does, the page's sentence must change)."""
    found = [str(f.relative_to(data.root)) for g in _PIN_PLACES for f in sorted(data.root.glob(g))]
    pinned = [f for f in found if "xla_cpu_max_isa" in (data.root / f).read_text()]
    return _unless(not pinned, f"the instruction set is pinned in {pinned}")


def _search_regret_never_above_incumbent(data: Committed) -> list[str]:
    """Per study the incumbent is an evaluated network, so the medians keep the order on every realization."""
    out = []
    for r, part in enumerate(_search(data)["realizations"]):
        for s, row in part["strategies"].items():
            ok = row["search_median_regret"] <= row["median_regret"] + 1e-12
            out += _unless(ok, f"realization {r}, {s}: search {row['search_median_regret']} > {row['median_regret']}")
    return out


def _q75_misses_target_at_floor(data: Committed) -> list[str]:
    report = data.json("plots/sampler_bench/report.json")
    row = next(r for r in report["summary"] if r["problem"] == "table" and r["sampler"] == "gp_ei")
    floor = report["noise_floor"]["floor_regret"]
    return _unless(row["regret_q75"] > floor, f"upper quartile {row['regret_q75']} <= the target {floor}")


def _order0(data: Committed) -> pd.DataFrame:
    return data.csv("plots/bilevel/order_0.csv")


def _order0_never_moves_h(data: Committed) -> list[str]:
    run = _order0(data)
    h, w = run.h.to_numpy(), run.w.to_numpy()
    out = _unless(bool((h == h[0]).all()), f"h moves: {h.min()} .. {h.max()}")
    return out + _unless(abs(w[-1] + h[-1]) < 1e-2, f"w ends at {w[-1]}, not at -h = {-h[-1]}")


def _order0_slides_from_1_to_minus_1(data: Committed) -> list[str]:
    run = _order0(data)
    out = _unless(bool((run.h == 1.0).all()), "h is not 1.0 throughout")
    return out + _unless(rounds_to(run.w.iloc[0], "1") and rounds_to(run.w.iloc[-1], "-1.0"), "w does not go 1 -> -1")


def _order0_dips_then_climbs_back(data: Committed) -> list[str]:
    run = _order0(data)
    low = int(run.L_val.idxmin())
    step, lowest, w = int(run.step[low]), run.L_val[low], run.w.to_numpy()
    out = _unless(step == 3 and rounds_to(lowest, "5.8e-4"), f"the lowest L_val is {lowest:.2g} at step {step}")
    out += _unless(w[low] > 0 > w[low + 1], "w does not cross 0 right after the dip")
    after = run.L_val.to_numpy()[low:]
    out += _unless(bool((after[1:] >= after[:-1]).all()), "L_val does not climb steadily after the dip")
    return out + _unless(rounds_to(after[-1], "1.0"), f"L_val ends at {after[-1]}")


def _low_orders_push_h_up(data: Committed) -> list[str]:
    """The bias outweighs the useful term at the start for n <= 3 only (the first hypergradient points the
    wrong way), and h peaks where the page says."""
    cosines = {n: _orders(data)[str(n)]["hypergrad_cosine_at_start"] for n in range(1, 6)}
    out = _unless(all((c < 0) == (n <= 3) for n, c in cosines.items()), f"cosines at the start {cosines}")
    for n, shown in ((1, "1.069"), (2, "1.041"), (3, "1.005")):
        peak = data.csv(f"plots/bilevel/order_{n}.csv").h.max()
        out += _unless(rounds_to(peak, shown), f"order {n}: h peaks at {peak:.4f}, not {shown}")
    for n in (4, 5):
        peak = data.csv(f"plots/bilevel/order_{n}.csv").h.max()
        out += _unless(peak <= 1.0, f"order {n} (> 3) also pushes h up, to {peak:.4f}")
    return out


def _orders(data: Committed) -> dict:
    return data.json("plots/bilevel/report.json")["orders"]


def _rate_falls_toward_exact(data: Committed) -> list[str]:
    rates = [_orders(data)[str(n)]["rate"] for n in range(1, 6)]
    exact = data.json("plots/bilevel/report.json")["exact"]["rate"]
    out = _unless(all(a > b for a, b in zip(rates, rates[1:])), f"rates of orders 1-5 {rates} do not fall")
    return out + _unless(min(rates) > exact and rounds_to(exact, "0.8"), f"exact rate {exact} vs {rates}")


def _steps_to_tol(data: Committed) -> tuple[list[int], int]:
    report = data.json("plots/bilevel/report.json")
    return [report["orders"][str(n)]["steps_to_tol"] for n in range(1, 6)], report["exact"]["steps_to_tol"]


def _orders_reach_tolerance(data: Committed) -> list[str]:
    steps, exact = _steps_to_tol(data)
    return _unless(steps == [41, 27, 22, 20, 19] and exact == 12, f"steps to tolerance {steps}, exact {exact}")


def _unrolling_pays_less_and_less(data: Committed) -> list[str]:
    steps, exact = _steps_to_tol(data)
    gains = [a - b for a, b in zip(steps, steps[1:])]
    out = _unless(all(a > b > 0 for a, b in zip(gains, gains[1:])), f"steps saved per extra order {gains}")
    return out + _unless(exact < min(steps), f"the exact run needs {exact} steps, orders 1-5 {steps}")


def _step_shrunk_by_b_n(data: Committed) -> list[str]:
    factors = [_orders(data)[str(n)]["step_factor"] for n in range(1, 6)]
    shown = ["0.2", "0.36", "0.488", "0.590", "0.672"]
    return _unless(all(rounds_to(f, s) for f, s in zip(factors, shown)), f"b_1..b_5 = {factors}")


def _order4_headline(data: Committed) -> list[str]:
    orders = _orders(data)
    got = [(orders[n]["final_L_val"], orders[n]["steps_to_tol"]) for n in ("1", "4")]
    ok = rounds_to(got[0][0], "1.9e-6") and got[0][1] == 41 and rounds_to(got[1][0], "5.6e-10") and got[1][1] == 20
    return _unless(ok, f"orders 1 and 4: (final L_val, steps) {got}")


def _dips_long_before(data: Committed) -> list[str]:
    """Order 1's L_val has a local minimum of 5e-5 at step 3, then rises above the tolerance again, so its
    steps to tolerance come later; order 0 never gets there."""
    loss = data.csv("plots/bilevel/order_1.csv").set_index("step").L_val
    dip = loss[2] > loss[3] < loss[4] and rounds_to(loss[3], "5e-5")
    out = _unless(dip, f"order 1's L_val at steps 2-4: {loss[2]:.2g}, {loss[3]:.2g}, {loss[4]:.2g}")
    tol = data.params()["bilevel"]["val_tol"]
    out += _unless(loss[4] > tol and _orders(data)["1"]["steps_to_tol"] > 3, "order 1 stays below tolerance")
    return out + _unless(_orders(data)["0"]["steps_to_tol"] is None, "order 0 converges")


def _drmad_far_less_memory(data: Committed) -> list[str]:
    """Only the memory half: the speed-up is a timing (``bench/drmad_memory.py``), not a committed file."""
    mem = data.csv("plots/drmad/memory.csv").set_index("method")["measured_vectors"]
    return _unless(mem["exact"] >= 10 * mem["K1"], f"exact keeps {mem['exact']}, DrMAD {mem['K1']} vectors")


def _drmad_lr_gradient_off(data: Committed) -> list[str]:
    """DrMAD's log-lr hypergradient is far off, and its outer run ends at a much smaller learning rate."""
    m = data.json("metrics/drmad.json")
    out = _unless(m["drmad_rel_err_log_lr"] > 0.1, f"relative error {m['drmad_rel_err_log_lr']:.3g}")
    return out + _unless(m["drmad_final_lr"] < m["exact_final_lr"] / 2, "DrMAD's final learning rate is not far below")


def _h_gradient_exact_for_every_k(data: Committed) -> list[str]:
    errors = {k: v["rel_err"]["h"] for k, v in data.json("plots/drmad/report.json")["K"].items()}
    return _unless(max(errors.values()) < 1e-12, f"relative errors of the h-gradient {errors}")


def _linear_hypernet_exact(data: Committed) -> list[str]:
    linear = data.json("plots/hypernet/report.json")["global_linear"]
    return _unless(abs(linear["A"] + 1) < 1e-6 and linear["rms_range"] < 1e-6, f"A = {linear['A']}")


def _local_mlp_only_near_h(data: Committed) -> list[str]:
    local = data.json("plots/hypernet/report.json")["local_mlp"]
    near, whole = local["rms_near_h"], local["rms_range"]
    return _unless(near * 5 < whole, f"RMS near h {near:.3g} is not far below the range's {whole:.3g}")


def _metrics_count(data: Committed) -> list[str]:
    def leaves(obj) -> int:
        return sum(leaves(v) for v in obj.values()) if isinstance(obj, dict) else 1

    files = sorted((data.root / "metrics").glob("*.json"))
    keys = sum(leaves(json.loads(f.read_text())) for f in files)
    return _unless((keys, len(files)) == (42, 10), f"{keys} keys over {len(files)} files")


def _no_metrics_of_data_and_l2l_train(data: Committed) -> list[str]:
    found = [n for n in ("data", "l2l_train") if (data.root / "metrics" / f"{n}.json").exists()]
    return _unless(not found, f"metrics files of {found}")


def _seed_std_median(data: Committed) -> list[str]:
    value = data.json("plots/candidates/report.json")["val_error_seed_std_median"]
    return _unless(round(value, 4) == 0.0046, f"val_error_seed_std_median is {value:.4f}")


def _l2l_fewer_updates_miss_the_bar(data: Committed) -> list[str]:
    """Every point of the chosen recipe's curve before the chosen budget has a seed below the bar."""
    chosen = data.json("plots/l2l/meta_report.json")["chosen"]
    curve = data.csv("plots/l2l/budget.csv")
    earlier = curve[(curve.recipe == chosen["recipe"]) & (curve.meta_updates < chosen["meta_updates"])]
    passing = earlier.groupby("meta_updates").reaches_bar.all()
    return _unless(len(passing) > 0 and not passing.any(), f"earlier budgets at the bar: {passing.to_dict()}")


def _l2l_nag_ahead_past_the_horizon(data: Committed) -> list[str]:
    long = next(v for k, v in data.json("plots/l2l/report.json")["settings"].items() if k.startswith("steps"))
    ahead = {m: s["loss"] > long["nag"]["loss"] for m, s in long["lstm_seeds"].items()}
    return _unless(all(ahead.values()), f"NAG ahead of meta-seed: {ahead}")


def _l2l_released_above_nag(data: Committed) -> list[str]:
    curve = data.csv("plots/l2l/budget.csv")
    released = curve[curve.recipe == "released"]
    last = released[released.meta_updates == released.meta_updates.max()]
    return _unless(len(last) > 0 and (last.val_loss > last.nag_loss).all(), "a released-recipe seed is below NAG")


CLAIMS = [
    # README: the glance rows outside HPO and learning to learn (their numbers: tests/test_docs.py)
    Claim(
        "README.md",
        "Verdicts are stated only where they hold on all 2 table realizations",
        _verdicts_on_every_realization,
    ),
    Claim(
        "README.md",
        "GP-EI finds a better network than uniform random on the first realization only, so that verdict is not robust",
        _gp_ei_beats_uniform_on_realization_0_only,
    ),
    Claim(
        "README.md",
        "on both realizations GP-EI and its two runtime-aware variants beat layer-uniform random",
        _gp_ei_variants_beat_layerwise_random,
    ),
    Claim(
        "README.md",
        "the latency-constrained strategies and MOTPE find worse networks than uniform random",
        _constrained_and_motpe_worse_than_uniform,
    ),
    Claim("README.md", "trials per study on networks it had already evaluated, GP-EI never", _gp_ei_never_repeats),
    Claim("README.md", "The upper-quartile regret on the table misses its target", _q75_misses_target_at_floor),
    Claim("README.md", "order 0 never moves h (w slides to −h", _order0_never_moves_h),
    Claim("README.md", "the h-gradient is exact for every K", _h_gradient_exact_for_every_k),
    Claim("README.md", "DrMAD's log-lr gradient is 0.42 off", _drmad_lr_gradient_off),
    Claim("README.md", "Far less memory", _drmad_far_less_memory),
    Claim("README.md", "the linear one learns it exactly", _linear_hypernet_exact),
    Claim("README.md", "the local MLP is accurate only near ĥ", _local_mlp_only_near_h),
    Claim("README.md", "With fewer meta-updates it does not", _l2l_fewer_updates_miss_the_bar),
    Claim("README.md", "run on past that horizon NAG is ahead again", _l2l_nag_ahead_past_the_horizon),
    Claim("README.md", "The released code's recipe stays above NAG after", _l2l_released_above_nag),
    # docs/bilevel.md: verdicts and limits
    Claim("docs/bilevel.md", "**Order 0 never moves h.**", _order0_never_moves_h),
    Claim("docs/bilevel.md", "h stays at 1.0 and w slides from 1 to −1", _order0_slides_from_1_to_minus_1),
    Claim(
        "docs/bilevel.md",
        "L_val falls to 5.8e-4 at step 3 as w crosses 0, then climbs back and ends at 1.0",
        _order0_dips_then_climbs_back,
    ),
    Claim("docs/bilevel.md", "so orders 1–3 first push h **up** (to 1.069, 1.041, 1.005)", _low_orders_push_h_up),
    Claim("docs/bilevel.md", "The rate falls with n toward the exact run's 0.8", _rate_falls_toward_exact),
    Claim(
        "docs/bilevel.md",
        "the n-order rule is the exact one with the step shrunk by b_n = 0.2, 0.36, 0.488, 0.590, 0.672",
        _step_shrunk_by_b_n,
    ),
    Claim("docs/bilevel.md", "**More unrolling pays less and less.**", _unrolling_pays_less_and_less),
    Claim(
        "docs/bilevel.md",
        "Orders 1–5 reach L_val < 10⁻³ in 41, 27, 22, 20, 19 outer steps; the exact hypergradient in 12",
        _orders_reach_tolerance,
    ),
    Claim(
        "docs/bilevel.md",
        "the headline moves from final L_val 1.9e-6 / 41 steps (order 1) to 5.6e-10 / 20 steps (order 4)",
        _order4_headline,
    ),
    Claim("docs/bilevel.md", "so L_val dips to 5e-5 (order 1, step 3) long before h has converged", _dips_long_before),
    # docs/pipeline.md: what it says of committed files
    Claim("docs/pipeline.md", "42 keys over 10 files", _metrics_count),
    Claim("docs/pipeline.md", "The `data` and `l2l_train` stages write no metrics", _no_metrics_of_data_and_l2l_train),
    # docs/architecture-search.md: the verdict lists are generated; these tie them to report.json
    Claim(
        "docs/architecture-search.md",
        "**Robust verdicts** (hold on every realization; the only ones stated):",
        _page_states_the_report_robust_list,
    ),
    Claim(
        "docs/architecture-search.md",
        "Search regret is never above the incumbent regret",
        _search_regret_never_above_incumbent,
    ),
    Claim(
        "docs/architecture-search.md",
        "So pinning the instruction set would not make another CPU's table identical, and the pipeline does not pin it",
        _isa_not_pinned,
    ),
    Claim(
        "docs/architecture-search.md",
        "standard deviation of `val_error` across seeds is 0.0046",
        _seed_std_median,
    ),
    Claim(
        "docs/architecture-search.md",
        "they are stated only where they hold on both realizations",
        _verdicts_on_every_realization,
    ),
]
CLAIMS += [Claim(page, anchor, check) for page, anchor, check in hpo_claims.CLAIMS]  # README HPO rows, HPO pages
#: The other pages' claim modules (``tests/docs_claims_<page>.py``), each with CLAIMS, SCOPES and NOT_CLAIMS.
PAGE_MODULES = (l2l_claims, drmad_claims, candidates_claims, gp_claims, hypernet_claims, distributed_claims)
CLAIMS += [Claim(page, anchor, check) for m in PAGE_MODULES for page, anchor, check in m.CLAIMS]

# ------------------------------------------------------------------------------ the scanned parts

#: Words that make a sentence comparative (or a judgement the data could contradict).
COMPARATIVE = re.compile(
    r"\b(best|beats?|beaten|wins?|worse|better|faster|slower|half|grows?|more|less|fewer|lower|higher|never|barely|"
    r"significantly|falls?|climbs?|exact(?:ly)?|only|misses|outweighs|pays)\b",
    re.I,
)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;!?])\s+(?=[-A-Z*`(])", squash(text)) if s]


def _glance_results_outside(text: str, pages: tuple[str, ...]) -> list[str]:
    """The result cells of the README's glance table, except the rows of the experiments on ``pages``."""
    rows = [r for r in text.splitlines() if r.startswith("| [")]
    return [r.split(" | ")[2] for r in rows if not any(f"(docs/{p})" in r.split(" | ")[0] for p in pages)]


def _sections(text: str, *headings: str) -> list[str]:
    parts = [p.split("\n", 1) for p in re.split(r"^## ", text, flags=re.M)]
    return [p[1] for p in parts if len(p) == 2 and p[0].strip() in headings]


_GENERATED = re.compile(r"<!-- generated: [\w-]+ -->\n.*?<!-- end generated -->", re.S)


def _prose_of_sections(text: str, *headings: str) -> list[str]:
    """:func:`_sections` without their generated blocks (``scripts/docs_tables.py`` writes those from the data)."""
    return [_GENERATED.sub("", part) for part in _sections(text, *headings)]


#: page -> the parts of it whose every comparative sentence must be a registered claim.
SCOPES: dict[str, Callable[[str], list[str]]] = {
    "README.md": lambda text: _glance_results_outside(text, ("l2l.md",)),
    "docs/bilevel.md": lambda text: _sections(text, "Verdicts", "Limits"),
    "docs/architecture-search.md": lambda text: _prose_of_sections(text, "Results"),
    **hpo_claims.SCOPES,
}

#: Comparative-looking sentences in a scope that claim nothing the data could contradict, with the reason.
NOT_CLAIMS = {
    "best seed-mean validation error": "names the network the value belongs to (a linked number)",
    "DARTS' first-order rule works only where the validation loss reads h directly": "the reason, not a result",
    "The outer optimizer matters as much as the order": "runs with other params.yaml values, not committed",
    "With `adam` (α = 0.2) the step no longer scales with b_n": "a run with other params.yaml values, not committed",
    "nothing here says how the orders compare on a real network": "a limit of the toy: says what is not measured",
    "A verdict is stated only in the robust list of": "the architecture-search page's rule, not a result",
    "is answered by the **search regret**": "which regret answers which question: a definition",
    "whose incumbent regret is lower than another's while its search regret is not": "how to read two regrets",
    "Wins–ties–losses count the paired studies of the winner": "what a column of the generated list counts",
    "its incumbent under the budget is the evaluated network": "how the budget regret is read: a definition",
    "changed 103 of them": "a measurement on another machine and instruction set, not a committed file",
    "with XLA limited to AVX2": "a measurement under another instruction set, not a committed file",
}

NOT_CLAIMS.update(hpo_claims.NOT_CLAIMS)
for _module in PAGE_MODULES:
    SCOPES.update(_module.SCOPES)
    NOT_CLAIMS.update(_module.NOT_CLAIMS)


def uncovered(text: str, scope: Callable[[str], list[str]], anchors: list[str]) -> list[str]:
    """The comparative sentences of ``scope``'s parts of ``text`` that hold no anchor and are no exemption."""
    out = []
    for part in scope(text):
        for sentence in _sentences(part):
            known = [*map(squash, anchors), *NOT_CLAIMS]
            if COMPARATIVE.search(sentence) and not any(k in sentence for k in known):
                out.append(sentence)
    return out


# ------------------------------------------------------------------------------------- the tests


def _text(page: str) -> str:
    return (REPO / page).read_text()


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.page}:{c.anchor[:40]}")
def test_the_claim_is_on_its_page_and_the_data_support_it(claim):
    assert claim_problems(claim, _text(claim.page), Committed(REPO)) == []


@pytest.mark.parametrize("page", sorted(SCOPES))
def test_every_comparative_sentence_of_a_scanned_part_is_registered(page):
    anchors = [c.anchor for c in CLAIMS if c.page == page]
    assert uncovered(_text(page), SCOPES[page], anchors) == []


def test_every_anchor_names_one_sentence():
    for claim in CLAIMS:
        assert squash(_text(claim.page)).count(squash(claim.anchor)) == 1, claim.anchor


# --------------------------------------------------------------------------- planted contradictions


def _planted(tmp_path: Path, *paths: str) -> Committed:
    for path in paths:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, tmp_path / path)
    return Committed(tmp_path)


def _claim(anchor: str) -> Claim:
    return next(c for c in CLAIMS if c.anchor == anchor)


def _search_outputs(root: Path, winners: list[str], robust: bool) -> Committed:
    """A two-realization ``plots/search`` with one test, gp_ei vs random_uniform on the search regret."""
    rows = [
        {"realization": r, "regret": "search", "test": "vs_baseline", "a": "gp_ei", "b": "random_uniform"}
        | {"wins": 20, "ties": 5, "losses": 5, "p_holm": 0.01 if w else 0.3, "winner": w, "robust": robust}
        for r, w in enumerate(winners)
    ]
    (root / "plots/search").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "plots/search/paired_verdicts.csv", index=False)
    robust_list = ["search regret: gp_ei lower than random_uniform (one-sided vs the baseline; ...)"] if robust else []
    split = [] if robust else ["search regret, gp_ei vs random_uniform (one-sided vs the baseline): ..."]
    report = {"table_realizations": len(winners), "paired_verdicts": {"robust": robust_list, "not_robust": split}}
    (root / "plots/search/report.json").write_text(json.dumps(report))
    return Committed(root)


def test_a_sentence_the_data_contradict_fails(tmp_path):
    """The README says GP-EI beats uniform random on realization 0 only: data where it wins on both contradict
    it, and the page's robust list is still the report's."""
    claim = _claim(
        "GP-EI finds a better network than uniform random on the first realization only, so that verdict is not robust"
    )
    text = _text("README.md")
    assert claim_problems(claim, text, _search_outputs(tmp_path, ["gp_ei", ""], False)) == []
    (problem,) = claim_problems(claim, text, _search_outputs(tmp_path, ["gp_ei", "gp_ei"], True))
    assert "gp_ei wins on realizations [True, True]" in problem
    data = _search_outputs(tmp_path, ["gp_ei", ""], False)
    listed = _claim("**Robust verdicts** (hold on every realization; the only ones stated):")
    assert _page_states_the_report_robust_list(data) == []
    report = data.json("plots/search/report.json")  # the report states a verdict the CSV does not hold
    report["paired_verdicts"]["robust"] = ["search regret: gp_ei lower than random_uniform (one-sided vs the baseline;"]
    (tmp_path / "plots/search/report.json").write_text(json.dumps(report))
    assert any("report.json" in p for p in listed.check(data))


def test_a_dip_at_another_step_or_no_climb_back_fails(tmp_path):
    claim = _claim("L_val falls to 5.8e-4 at step 3 as w crosses 0, then climbs back and ends at 1.0")
    data = _planted(tmp_path, "plots/bilevel/order_0.csv")
    run = data.csv("plots/bilevel/order_0.csv")
    flat = run.assign(L_val=run.L_val.where(run.step <= 3, run.L_val[3]))  # stays at its minimum after step 3
    flat.to_csv(tmp_path / "plots/bilevel/order_0.csv", index=False)
    problems = claim_problems(claim, _text("docs/bilevel.md"), data)
    assert any("ends at" in p for p in problems)
    later = run.assign(L_val=run.L_val.where(run.step != 5, 1e-5))  # a lower dip at step 5
    later.to_csv(tmp_path / "plots/bilevel/order_0.csv", index=False)
    assert any("at step 5" in p for p in claim_problems(claim, _text("docs/bilevel.md"), data))


def test_an_edited_sentence_fails_until_registered_again():
    claim = _claim("L_val falls to 5.8e-4 at step 3 as w crosses 0, then climbs back and ends at 1.0")
    edited = _text("docs/bilevel.md").replace("then climbs back and ends at 1.0", "and stays at 1.0")
    (problem,) = claim_problems(claim, edited, Committed(REPO))
    assert problem.endswith("no longer on the page")


def test_a_missing_source_fails_with_its_name(tmp_path):
    claim = _claim(
        "GP-EI finds a better network than uniform random on the first realization only, so that verdict is not robust"
    )
    (problem,) = claim_problems(claim, _text("README.md"), Committed(tmp_path))
    assert "cannot be read (FileNotFoundError" in problem and "plots/search/paired_verdicts.csv" in problem


def test_the_metrics_file_count_would_have_been_caught(tmp_path):
    """A page that says one file more than there are: the anchor would match, the count would not."""
    data = _planted(tmp_path, *(f"metrics/{p.name}" for p in (REPO / "metrics").glob("*.json")))
    (tmp_path / "metrics/hpo_scale.json").unlink()  # one file fewer than the page says
    (problem,) = claim_problems(_claim("42 keys over 10 files"), _text("docs/pipeline.md"), data)
    assert "over 9 files" in problem


def test_an_unregistered_comparative_sentence_is_caught():
    text = _text("docs/bilevel.md").replace("## Limits\n", "## Limits\n\n- Order 2 is faster than order 1.\n")
    anchors = [c.anchor for c in CLAIMS if c.page == "docs/bilevel.md"]
    assert uncovered(text, SCOPES["docs/bilevel.md"], anchors) == ["- Order 2 is faster than order 1."]


@pytest.mark.parametrize(
    "value, shown, same",
    [(5.76e-4, "5.8e-4", True), (5.76e-4, "5.7e-4", False), (1.0691, "1.069", True), (0.99999, "1.0", True)],
)
def test_rounds_to_compares_as_many_significant_digits_as_shown(value, shown, same):
    assert rounds_to(value, shown) is same
