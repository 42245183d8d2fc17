"""The comparative sentences of the HPO pages (``docs/hpo.md``, ``docs/hpo-scale.md``, their README rows), and
the checks that hold them to the committed files.

Used by ``tests/test_docs_claims.py`` (which turns :data:`CLAIMS` into its ``Claim`` objects and adds
:data:`SCOPES` and :data:`NOT_CLAIMS`); kept apart because the HPO pages carry most of the
project's comparisons. A check takes the committed files (``Committed``: ``json``, ``csv``) and returns
what in them contradicts its sentence, [] if nothing. Several checks are built by factories
(:func:`best_gradient_method`, :func:`share_fitted`, ...) from what the sentence says, so the
tests can also build the check of a *wrong* sentence ("exact is the best gradient method") and
show that the committed files contradict it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import docs_claims_hpo_scale as scale
import pandas as pd
from docs_claims_hpo_scale import HPO, Check, _near, _unless

#: The ``hpo`` stage's gradient-based methods (the others are searches).
GRADIENT = ("online1", "online3", "online5", "exact", "drmad", "kpiece4", "ift", "hypernet")
SEARCH = ("gp_ei", "tpe", "random")
#: The four methods the ``hpo`` page calls level at 3 hyperparameters.
LEVEL = ("drmad", "tpe", "gp_ei", "exact")


# ------------------------------------------------------------------------------------ the hpo stage


def _hpo(data) -> pd.DataFrame:
    return pd.DataFrame(data.json(f"{HPO}/report.json")["summary"]).set_index("method")


def _iqr(row) -> float:
    return row["val_loss_q3"] - row["val_loss_q1"]


def level_within_the_spread(data) -> list[str]:
    """The four medians lie within 0.004 of each other, less than the narrowest of their IQRs (0.014-0.028)."""
    s = _hpo(data).loc[list(LEVEL)]
    spread, iqrs = s.val_loss.max() - s.val_loss.min(), [_iqr(r) for _, r in s.iterrows()]
    out = _unless(spread <= 0.0045 and spread < min(iqrs), f"medians span {spread:.4f}, IQRs {min(iqrs):.3f}..")
    return out + _unless(_near(min(iqrs), 0.014, 5e-4) and _near(max(iqrs), 0.028, 5e-4), f"IQRs {iqrs}")


def _equivalents(data) -> pd.Series:
    """Per method, the median over seeds of its forward-step equivalents within the step budget."""
    report = data.json(f"{HPO}/report.json")
    unit, budget = report["budget_unit"], report["params"]["step_budget"]
    trace = data.csv(f"{HPO}/trace.csv")
    trace = trace[trace.inner_steps <= budget]
    last = trace.loc[trace.groupby(["method", "seed"])["round"].idxmax()]
    eq = last.inner_steps + unit["reverse"] * last.reverse_steps + unit["cg"] * last.cg_products
    return eq.groupby(last.method).median()


def compute_ratio(shown: float) -> Check:
    """A descent method's work within the budget is ``shown`` times a search's (forward-step equivalents)."""

    def check(data) -> list[str]:
        eq = _equivalents(data)
        ratios = [eq[d] / eq[s] for d in ("exact", "drmad", "kpiece4") for s in SEARCH]
        return _unless(all(round(r) == shown for r in ratios), f"descent / search compute {min(ratios):.2f}..")

    return check


def memory_ratio(big: str, small: tuple[str, ...], shown: int) -> Check:
    """``big``'s memory (XLA's estimate) is ``shown`` times each of ``small``'s."""

    def check(data) -> list[str]:
        s = _hpo(data).memory_mb
        ratios = {m: s[big] / s[m] for m in small}
        return _unless(all(round(r) == shown for r in ratios.values()), f"{big}'s memory / others' {ratios}")

    return check


def searches_a_third_of_the_compute(data) -> list[str]:
    return level_within_the_spread(data) + compute_ratio(3)(data)


def tpe_ahead_of_drmad_on(seeds: int) -> Check:
    def check(data) -> list[str]:
        runs = data.csv(f"{HPO}/runs.csv").pivot(index="seed", columns="method", values="val_loss")
        ahead = int((runs.tpe < runs.drmad).sum())
        return _unless(ahead == seeds, f"TPE is ahead of DrMAD on {ahead} seeds")

    return check


def best_gradient_method(name: str) -> Check:
    """``name`` has the lowest median validation CE of the gradient methods, inside the others' quartiles."""

    def check(data) -> list[str]:
        s = _hpo(data)
        grad = s.loc[[m for m in GRADIENT if m in s.index]]
        best = grad.val_loss.idxmin()
        out = _unless(best == name, f"the best gradient method is {best} ({grad.val_loss.min():.4f})")
        v = grad.val_loss[name]
        for other in ("exact", "kpiece4", "drmad"):
            if other != name:
                inside = grad.val_loss_q1[other] <= v <= grad.val_loss_q3[other]
                out += _unless(inside, f"{name}'s median is outside {other}'s quartiles")
        return out

    return check


def gp_ei_leads_early(data) -> list[str]:
    trace = data.csv(f"{HPO}/trace.csv")

    def best(steps: int) -> pd.Series:
        within = trace[trace.inner_steps <= steps]
        return within.groupby(["method", "seed"]).val_loss.min().groupby(level="method").median()

    at480, later = best(480), [best(k)["gp_ei"] for k in (640, 800, 1200, 1600)]
    out = _unless(at480.idxmin() == "gp_ei", f"the lowest median at 480 steps is {at480.idxmin()}")
    shown = {"gp_ei": 0.495, "tpe": 0.515, "exact": 0.570}
    out += _unless(all(_near(at480[m], v, 5e-4) for m, v in shown.items()), f"at 480 steps {at480[list(shown)]}")
    return out + _unless(all(_near(v, 0.475, 5e-4) for v in later), f"GP-EI from 640 steps {later}")


def gp_ei_final_best_is_a_startup_trial_on(seeds: int) -> Check:
    def check(data) -> list[str]:
        report = data.json(f"{HPO}/report.json")
        startup, budget = report["params"]["n_startup_trials"], report["params"]["step_budget"]
        trace = data.csv(f"{HPO}/trace.csv")
        runs = trace[(trace.method == "gp_ei") & (trace.inner_steps <= budget)]
        rounds = runs.loc[runs.groupby("seed").val_loss.idxmin(), "round"]
        found = int(rounds.between(1, startup).sum())
        return _unless(found == seeds, f"GP-EI's final best is a startup trial on {found} seeds")

    return check


def random_worst_search(data) -> list[str]:
    """Random search has the highest median of the three searches; its seed 0 ends at 0.611."""
    s = _hpo(data).val_loss
    out = _unless(s["random"] > max(s["gp_ei"], s["tpe"]), f"random {s['random']:.4f} is not the worst search")
    seed0 = data.csv(f"{HPO}/runs.csv").query("method == 'random' and seed == 0").val_loss.iloc[0]
    return out + _unless(round(seed0, 3) == 0.611, f"random's seed 0 ends at {seed0:.3f}")


def random_moves_every_coordinate_by_more_than(distance: float) -> Check:
    """Random search's best h is more than ``distance`` from h0 in every coordinate on every seed."""

    def check(data) -> list[str]:
        report = data.json(f"{HPO}/report.json")
        p = report["params"]
        h0 = {"log_l2_0": p["l2_0"], "log_l2_1": p["l2_0"], "log_lr": math.log(p["lr0"])}
        runs = data.csv(f"{HPO}/runs.csv").query("method == 'random'")
        moved = min(float((runs[c] - v).abs().min()) for c, v in h0.items())
        return _unless(moved > distance, f"random search's best h is within {moved:.2f} of h0 in a coordinate")

    return check


def online_greedy(data) -> list[str]:
    s = _hpo(data)
    out = _unless(
        all(s.log_l2_0[m] == s.log_l2_1[m] == -12.0 for m in ("online1", "online3", "online5")), "median L2 not -12"
    )
    span = sorted(round(s.val_loss[m], 3) for m in ("online3", "online5"))
    return out + _unless(span == [0.486, 0.491], f"online3 and online5 at {span}")


def l2_only_and_stuck(data) -> list[str]:
    """``ift`` and ``hypernet`` never move the learning rate and end within 0.01 of f(h0); IFT's errors are
    208-503 %; the learning rate's hypergradient at h0 dwarfs the L2 ones (it matters most)."""
    report = data.json(f"{HPO}/report.json")
    runs = data.csv(f"{HPO}/runs.csv").query("method in ['ift', 'hypernet']")
    lr0 = math.log(report["params"]["lr0"])
    out = _unless(bool((runs.log_lr - lr0).abs().max() < 1e-6), "ift or hypernet moved the learning rate")
    s = _hpo(data).val_loss
    f0 = report["initial_val_loss"]
    out += _unless(all(abs(s[m] - f0) < 0.01 for m in ("ift", "hypernet")), "ift or hypernet moved f by 0.01 or more")
    accuracy = pd.DataFrame(report["accuracy"])
    acc = accuracy.query("method == 'ift'").set_index("point").rel_err
    out += _unless(round(100 * acc[0]) == 208 and round(100 * acc[1]) == 503, f"IFT's errors {acc.tolist()}")
    at_h0 = accuracy.query("method == 'exact' and point == 0").iloc[0]  # the learning rate matters most
    return out + _unless(abs(at_h0.grad_2) > 10 * max(abs(at_h0.grad_0), abs(at_h0.grad_1)), "lr is not dominant")


def interpolated_far_off_at_the_third_point(data) -> list[str]:
    acc = pd.DataFrame(data.json(f"{HPO}/report.json")["accuracy"]).set_index(["point", "method"])
    got = [(acc.rel_err[(2, m)], acc.cosine[(2, m)]) for m in ("kpiece4", "drmad")]
    shown = [(3.34, 0.32), (1.62, 0.52)]
    ok = all(_near(e, se, 0.005) and _near(c, sc, 0.005) for (e, c), (se, sc) in zip(got, shown))
    far = all(e > 1 and e > acc.rel_err[(0, m)] for (e, _), m in zip(got, ("kpiece4", "drmad")))
    return _unless(ok and far, f"K = 4 pieces and DrMAD at the third point (error, cosine): {got}")


def ift_compared_on_l2_only(data) -> list[str]:
    acc = pd.DataFrame(data.json(f"{HPO}/report.json")["accuracy"]).query("method == 'ift'")
    return _unless(set(acc.compared) == {"log_l2"}, f"ift compared on {set(acc.compared)}")


# --------------------------------------------------------------------------------- the registrations

HPO_PAGE, SCALE_PAGE = "docs/hpo.md", "docs/hpo-scale.md"

#: (page, anchor, check): words of the sentence (as ``test_docs_claims.squash`` reads the page), what it says.
CLAIMS: list[tuple[str, str, Check]] = [
    # README: the HPO rows
    ("README.md", "level within the spread over seeds", level_within_the_spread),
    ("README.md", "exact, DrMAD and K-piece spend about three times the searches' compute", compute_ratio(3)),
    ("README.md", "IFT (0.853) fails when training does not converge", l2_only_and_stuck),
    ("README.md", "TPE wins the smallest h", scale.tpe_wins_d3),
    ("README.md", "and in test error (ahead on every seed) only at d =", scale.crossovers_every_seed),
    ("README.md", "and in between neither side is ahead on every seed", scale.no_side_at_18_and_27),
    ("README.md", "With reverse passes free the crossover was d =", scale.lead_lost_below_162),
    ("README.md", "With the kind of hyperparameter held fixed the validation crossover is", scale.sweep_by_kind),
    ("README.md", "half of that gain is fitted to the validation set", scale.share_fitted("drmad", "hesbo", 0.5, 0.05)),
    # docs/hpo.md: Results and Verdicts
    ("docs/hpo.md", "`ift` is compared on the L2 components only", ift_compared_on_l2_only),
    (
        "docs/hpo.md",
        "the interpolated reverse passes are far off (K = 4 pieces 334 %",
        interpolated_far_off_at_the_third_point,
    ),
    ("docs/hpo.md", "and TPE and GP-EI get there at a third of the compute.", searches_a_third_of_the_compute),
    (
        "docs/hpo.md",
        "lie within 0.004 of each other, less than any one's interquartile range over seeds (0.014–0.028)",
        level_within_the_spread,
    ),
    ("docs/hpo.md", "Seed by seed, TPE is ahead of DrMAD on 4 of 5 seeds", tpe_ahead_of_drmad_on(4)),
    ("docs/hpo.md", "cost about 3 times the searches' 20 evaluations", compute_ratio(3)),
    ("docs/hpo.md", "exact reverse mode needs 7 times their memory", memory_ratio("exact", SEARCH, 7)),
    ("docs/hpo.md", "**`drmad` has the lowest median of the gradient methods**", best_gradient_method("drmad")),
    ("docs/hpo.md", "TPE is ahead of the best hypergradient method on every seed", scale.tpe_wins_d3),
    ("docs/hpo.md", "a sixth of its memory (5.3 MB)", memory_ratio("exact", ("drmad", "kpiece4"), 6)),
    ("docs/hpo.md", "**GP-EI leads early.**", gp_ei_leads_early),
    ("docs/hpo.md", "on 2 of the 5 seeds its final best is one of them", gp_ei_final_best_is_a_startup_trial_on(2)),
    ("docs/hpo.md", "**Random search is the worst of the three searches**", random_worst_search),
    (
        "docs/hpo.md",
        "its best h is more than 1 away from h0 in every coordinate on every seed",
        random_moves_every_coordinate_by_more_than(1.0),
    ),
    ("docs/hpo.md", "drives both L2 coefficients to the box floor (median −12)", online_greedy),
    ("docs/hpo.md", "stay within 0.01 of f(h0)", l2_only_and_stuck),
    ("docs/hpo.md", "Both tune L2 only (the learning rate, which matters most after 80 steps", l2_only_and_stuck),
    # docs/hpo-scale.md: Method, Results, Verdicts and Limits
    ("docs/hpo-scale.md", "So 4,800 equivalents are 60 evaluations of f for a search method", scale.rounds_per_view),
    ("docs/hpo-scale.md", "h0 plus 10 passes of `online5`", scale.online_passes(10)),
    ("docs/hpo-scale.md", "(the same network, so nearly the same programs)", scale.budget_unit_every_family),
    ("docs/hpo-scale.md", "Each run is charged what it runs", scale.runs_record_their_cost),
    ("docs/hpo-scale.md", "a search method has had 20 evaluations instead of 60", scale.rounds_per_view),
    ("docs/hpo-scale.md", "stays flat from d = 3 to d = 162 (−0.029 to −0.032", scale.gap_flat_then_jump),
    ("docs/hpo-scale.md", "keep a negative gap at every d (−0.009 to −0.053)", scale.search_gaps_negative),
    ("docs/hpo-scale.md", "but half of its validation gain is fitted", scale.exact_half_fitted),
    ("docs/hpo-scale.md", "half of it holds on the test split", scale.share_fitted("drmad", "hesbo", 0.5, 0.05)),
    ("docs/hpo-scale.md", "at every point but one", scale.exact_agrees_but_at_one_point),
    ("docs/hpo-scale.md", "float32 and float64 exact reverse mode differ by 126 %", scale.chaotic_unit_point),
    (
        "docs/hpo-scale.md",
        "its hypergradient points elsewhere (cosine 0.26–0.29)",
        scale.online_points_elsewhere_on_schedules,
    ),
    ("docs/hpo-scale.md", "K = 4 pieces are within 6 % of exact", scale.kpiece_near_exact_from_h0),
    (
        "docs/hpo-scale.md",
        "**Charged for their reverse passes, the hypergradient methods lose their lead below d = 162.**",
        scale.lead_lost_below_162,
    ),
    ("docs/hpo-scale.md", "at d = 18 GP-EI goes from 0.555 to 0.475", scale.searches_use_the_evaluations),
    (
        "docs/hpo-scale.md",
        "The descent methods gain nothing from the reverse passes",
        scale.searches_use_the_evaluations,
    ),
    ("docs/hpo-scale.md", "So at d = 18 and 27 neither side is ahead on every seed", scale.no_side_at_18_and_27),
    (
        "docs/hpo-scale.md",
        "**From d = 162 the hypergradient side wins on both cross-entropies on every seed",
        scale.test_error_only_at_the_top,
    ),
    (
        "docs/hpo-scale.md",
        "At d = 162 `exact` is ahead of the best search method on test error",
        scale.test_error_only_at_the_top,
    ),
    ("docs/hpo-scale.md", "The headline, on the held-out test error, is therefore", scale.test_error_only_at_the_top),
    (
        "docs/hpo-scale.md",
        "**The Bayesian optimization that runs at every d is the best search method at the two largest.**",
        scale.hesbo_best_at_the_two_largest,
    ),
    ("docs/hpo-scale.md", "reaches 0.491 at d = 162", scale.hesbo_best_at_the_two_largest),
    (
        "docs/hpo-scale.md",
        "So at d = 12,705 the hypergradient side beats Bayesian optimization",
        scale.hesbo_best_at_the_two_largest,
    ),
    (
        "docs/hpo-scale.md",
        "**With the kind held fixed, the crossover depends on the kind, and on test error it is late or absent.**",
        scale.sweep_by_kind,
    ),
    ("docs/hpo-scale.md", "With the learning-rate schedule alone, TPE wins at K = 1 and 2", scale.sweep_by_kind),
    ("docs/hpo-scale.md", "With the L2 alone, the hypergradient side wins validation CE", scale.sweep_by_kind),
    ("docs/hpo-scale.md", "So at equal compute the hypergradient methods pay off", scale.sweep_by_kind),
    (
        "docs/hpo-scale.md",
        "the same schedule sweep crosses over on validation CE at d = 10 already",
        scale.sweep_by_kind,
    ),
    ("docs/hpo-scale.md", "**DrMAD and K-piece stay within 0.020 of exact**", scale.interpolated_near_exact),
    ("docs/hpo-scale.md", "it trails `exact` by 0.01–0.04", scale.online_trails_exact),
    ("docs/hpo-scale.md", "**IFT fails at every dimension** (0.84–0.86", scale.ift_fails),
    (
        "docs/hpo-scale.md",
        "In wall clock the model-based searches spend more than the descent methods",
        scale.wall_model_based_search_more,
    ),
    ("docs/hpo-scale.md", "`exact` needs about 9–10× a search method's", scale.memory_limits),
    ("docs/hpo-scale.md", "the 48 × 5 runs", scale.runs_count(48)),
]

#: Comparative-looking sentences of the HPO pages' scopes that claim nothing the files could contradict.
NOT_CLAIMS = {
    "**median rule**: the side with the lower median wins": "the definition of a rule",
    "**paired rule**: the same two methods seed by seed": "the definition of a rule",
    "the smallest d from which the hypergradient side wins every family up to the largest": "a definition",
    "bold: the family's best": "a table's caption",
    "The families above change the kind of hyperparameter as d grows": "what the sweep is for: a description",
    "each member is labelled with the best method of each side": "a table's caption (its rows are generated)",
    "between the best method of each side, chosen by median validation CE": "how a family is judged: a definition",
    "Median over seeds of the best validation loss within k inner steps": "a table's caption",
    "so with more hyperparameters it can be fitted rather than generalized": "the reason to look, not a result",
    "**Hypergradients against exact reverse mode** (": "a table's caption (its numbers are generated)",
    "the relative error of each hypergradient, its cosine with the exact one": "a table's caption",
}

_GENERATED = re.compile(r"<!-- generated: [\w-]+ -->\n.*?<!-- end generated -->\n?", re.S)


def paragraphs(text: str, *headings: str) -> list[str]:
    """The prose paragraphs of the ``## `` sections named ``headings``: generated blocks, table rows and images
    dropped (the generated ones are checked by ``tests/test_docs_tables.py``), each paragraph a part of its own
    so that no sentence runs across a dropped block."""
    out = []
    for part in re.split(r"^## ", text, flags=re.M):
        name, _, body = part.partition("\n")
        if name.strip() not in headings:
            continue
        body = _GENERATED.sub("\n", body)
        lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith(("|", "!["))]
        out += [p for p in "\n".join(lines).split("\n\n") if p.strip()]
    return out


#: page -> its parts whose every comparative sentence must be registered (or be a :data:`NOT_CLAIMS`).
SCOPES: dict[str, Callable[[str], list[str]]] = {
    HPO_PAGE: lambda text: paragraphs(text, "Results", "Verdicts"),
    SCALE_PAGE: lambda text: paragraphs(text, "Results", "Verdicts"),
}
