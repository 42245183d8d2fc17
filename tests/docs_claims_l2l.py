"""The checks of ``docs/l2l.md``'s comparative sentences against ``plots/l2l/`` (the ``l2l_train`` and ``l2l`` stages).

Registered by ``tests/test_docs_claims.py`` (which turns :data:`CLAIMS` into its ``Claim`` objects and adds
:data:`SCOPES` and :data:`NOT_CLAIMS`), as :mod:`docs_claims_hpo` is. A check takes the committed files
(``test_docs_claims.Committed``: ``json``, ``csv``) and returns what in them contradicts its sentence, [] if
nothing. The page's tables and its verdict paragraph are generated (``scripts/docs_tables.py``); these are the
sentences written by hand around them.
"""

from __future__ import annotations

import pandas as pd
from docs_claims_hpo import paragraphs
from docs_claims_hpo_scale import Check, _near, _unless

PAGE = "docs/l2l.md"
L2L = "plots/l2l"
BASELINES = ("sgd", "adam", "rmsprop", "nag")


def _setting(data, name: str) -> dict:
    return data.json(f"{L2L}/report.json")["settings"][name]


def _losses(setting: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(baseline -> loss, meta-seed -> loss) of one setting of ``report.json``."""
    return {b: setting[b]["loss"] for b in BASELINES}, {m: s["loss"] for m, s in setting["lstm_seeds"].items()}


def appendix_misses_the_bar_early(data) -> list[str]:
    """Below 1,000 meta-updates no appendix point has every seed at the bar (at most 6 wins against NAG);
    at 1,000 every seed is."""
    curve = data.csv(f"{L2L}/budget.csv")
    app = curve[curve.recipe == "appendix"]
    early = app[app.meta_updates < 1000]
    out = _unless(
        set(early.meta_updates) == {100, 300}, f"appendix points below 1,000: {sorted(set(early.meta_updates))}"
    )
    out += _unless(not early.groupby("meta_updates").reaches_bar.all().any(), "an early appendix point is at the bar")
    out += _unless(int(early.wins_vs_nag.max()) == 6, f"at most {early.wins_vs_nag.max()} wins against NAG early")
    return out + _unless(bool(app[app.meta_updates == 1000].reaches_bar.all()), "not every seed at the bar at 1,000")


def lstm_beats_every_baseline_at_100(data) -> list[str]:
    base = _setting(data, "base")
    baselines, seeds = _losses(base)
    out = _unless(min(baselines, key=baselines.get) == "nag", f"the best baseline is not NAG: {baselines}")
    out += _unless(max(seeds.values()) < min(baselines.values()), f"seeds {seeds} vs baselines {baselines}")
    wins = {m: base["lstm_seeds"][m]["wins"] for m in seeds}
    others = all(w[b] == 20 for w in wins.values() for b in ("sgd", "adam", "rmsprop"))
    return out + _unless(others and [w["nag"] for w in wins.values()] == [16, 16], f"wins {wins}")


def below_every_baseline_up_to_100(data) -> list[str]:
    """At every recorded step 5 … 100 of the base setting each seed's mean test loss is below every baseline's,
    and the numbers the page quotes at steps 5, 20 and 50."""
    c = data.csv(f"{L2L}/curves.csv")
    loss = c[c.setting == "base"].pivot(index="step", columns="optimizer", values="loss_mean").dropna()
    window = loss.loc[5:100]
    worst_seed, best_base = window[["lstm_s0", "lstm_s1"]].max(axis=1), window[list(BASELINES)].min(axis=1)
    out = _unless(
        bool((worst_seed < best_base).all()), f"a baseline is ahead at {list(window.index[worst_seed >= best_base])}"
    )
    shown = {
        5: ("1.49", "1.61", "2.15", "2.32"),
        20: ("0.36", "0.44", "1.11", "1.09"),
        50: ("0.12", "0.13", "0.32", "0.18"),
    }
    for step, (lo, hi, adam, nag) in shown.items():
        r = loss.loc[step]
        got = [min(r.lstm_s0, r.lstm_s1), max(r.lstm_s0, r.lstm_s1), r.adam, r.nag]
        ok = all(_near(v, float(s), 0.005) for v, s in zip(got, (lo, hi, adam, nag)))
        out += _unless(ok, f"step {step}: seeds, Adam, NAG {[round(v, 3) for v in got]}")
    return out


def behind_nag_at_200(data) -> list[str]:
    long = _setting(data, "steps200")
    baselines, seeds = _losses(long)
    wins = [long["lstm_seeds"][m]["wins"]["nag"] for m in sorted(seeds)]
    out = _unless(all(v > baselines["nag"] for v in seeds.values()), f"seeds {seeds} vs NAG {baselines['nag']:.4f}")
    return out + _unless(wins == [9, 6], f"wins against NAG at 200 steps {wins}")


def released_not_reproduced(data) -> list[str]:
    """Seed 1 of the released recipe improves at every budget and stays above NAG (4 wins at 3,000); seed 0's
    loss is the same from 300 on; after 100 meta-updates seed 0 is at chance level and seed 1 at 2.18."""
    curve = data.csv(f"{L2L}/budget.csv")
    rel = curve[curve.recipe == "released"].set_index(["meta_seed", "meta_updates"]).sort_index()
    s1, s0 = rel.loc[1].val_loss, rel.loc[0].val_loss
    shown = {100: 2.18, 300: 0.38, 1000: 0.15, 3000: 0.072}
    out = _unless(all(_near(s1[n], v, 0.005 if v > 0.1 else 5e-4) for n, v in shown.items()), f"seed 1 {s1.tolist()}")
    out += _unless(bool((s1.diff().dropna() < 0).all()), "seed 1 does not improve at every budget")
    last = rel.loc[1].loc[3000]
    out += _unless(last.val_loss > last.nag_loss and last.wins_vs_nag == 4 and _near(last.nag_loss, 0.050, 5e-4), "NAG")
    out += _unless(bool((s0.loc[300:] == s0[300]).all()) and _near(s0[300], 0.58, 0.005), f"seed 0 {s0.tolist()}")
    return out + _unless(_near(s0[100], 2.30, 0.005) and _near(s1[100], 2.18, 0.005), "losses after 100 meta-updates")


def meta_training_not_monotone(data) -> list[str]:
    mv = data.csv(f"{L2L}/meta_validation.csv")
    s0 = mv[(mv.recipe == "appendix") & (mv.meta_seed == 0)].set_index("meta_step").val_loss
    shown = {100: "0.088", 400: "0.039", 600: "0.090", 900: "0.036"}
    out = _unless(all(f"{s0[k]:.3f}" == v for k, v in shown.items()), f"seed 0's checks {s0.loc[list(shown)].tolist()}")
    return out + _unless(bool((s0.diff().dropna() > 0).any()), "the checks never rise")


def generalization(data) -> list[str]:
    """hidden40: both seeds below every baseline, 20 wins each; layers2: seed 0 below every baseline, seed 1
    above every one; relu: both seeds above every baseline."""
    out = []
    for name, below in (("hidden40", ("0", "1")), ("layers2", ("0",)), ("relu", ())):
        setting = _setting(data, name)
        baselines, seeds = _losses(setting)
        for m, loss in seeds.items():
            ok = loss < min(baselines.values()) if m in below else loss > max(baselines.values())
            out += _unless(ok, f"{name}: seed {m} at {loss:.4f} against {baselines}")
    hidden = _setting(data, "hidden40")["lstm_seeds"]
    return out + _unless(all(w == 20 for s in hidden.values() for w in s["wins"].values()), "hidden40: not 20 wins")


def _norms_and_losses(data) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = data.csv(f"{L2L}/curves.csv")
    base = c[c.setting == "base"]
    return (
        base.pivot(index="step", columns="optimizer", values="param_norm_mean"),
        base.pivot(index="step", columns="optimizer", values="loss_mean").dropna(),
    )


def norms_and_early_lead(data) -> list[str]:
    """Each seed's parameter norm is above every baseline's from step 2 to step 100 (not at step 1), with the
    quoted values; the ratio of the best baseline's loss to each seed's peaks at step 20 (2.5–3.0) and is
    1.3–1.4 at step 100."""
    norm, loss = _norms_and_losses(data)
    seeds, top = norm[["lstm_s0", "lstm_s1"]], norm[list(BASELINES)].max(axis=1)
    above = seeds.min(axis=1) > top
    out = _unless(bool(above.loc[2:100].all()) and not bool(above.loc[1]), "the norms cross elsewhere than at step 2")
    quoted = [
        norm.loc[5, "lstm_s0"],
        norm.loc[5, "lstm_s1"],
        norm.loc[5, "adam"],
        *norm.loc[100, ["lstm_s0", "lstm_s1"]],
    ]
    quoted += norm.loc[100, list(BASELINES)].tolist()
    shown = [22.0, 28.8, 13.8, 179, 98, 22, 68, 32, 29]
    out += _unless(all(_near(v, s, 0.05 if s < 30 and s % 1 else 0.5) for v, s in zip(quoted, shown)), f"{quoted}")
    ratio = loss[list(BASELINES)].min(axis=1).to_numpy()[:, None] / loss[["lstm_s0", "lstm_s1"]]
    peaks = ratio.loc[:100].idxmax().tolist()
    out += _unless(peaks == [20, 20], f"the ratio peaks at steps {peaks}")
    at20, at100 = [f"{r:.1f}" for r in sorted(ratio.loc[20])], [f"{r:.1f}" for r in sorted(ratio.loc[100])]
    out += _unless(at20 == ["2.5", "3.0"], f"ratios at step 20 {at20}")
    return out + _unless(at100 == ["1.3", "1.4"], f"ratios at step 100 {at100}")


def meta_training_minutes(data) -> list[str]:
    """The committed ``l2l_train`` took 51 min (appendix) and 44 min (released): ``meta_train_seconds``."""
    recipes = data.json(f"{L2L}/meta_report.json")["recipes"]
    minutes = [round(recipes[r]["meta_train_seconds"] / 60) for r in ("appendix", "released")]
    return _unless(minutes == [51, 44], f"meta-training took {minutes} min")


#: (page, anchor, check): words of the sentence (as ``test_docs_claims.squash`` reads the page), what it says.
CLAIMS: list[tuple[str, str, Check]] = [
    (PAGE, "The appendix recipe misses the bar on val at 100 and 300 meta-updates", appendix_misses_the_bar_early),
    (PAGE, "the LSTM beats every tuned baseline at step 100", lstm_beats_every_baseline_at_100),
    (
        PAGE,
        "Every seed is below every baseline at every recorded step from step 5 to step 100",
        below_every_baseline_up_to_100,
    ),
    (PAGE, "Run on to 200 steps, the LSTMs fall behind NAG", behind_nag_at_200),
    (PAGE, "seed 1's kept LSTM improves along the whole curve", released_not_reproduced),
    (PAGE, "(seed 0 at chance level, 2.30, seed 1 at 2.18, after 100 meta-updates)", released_not_reproduced),
    (PAGE, "fall and rise again along the way", meta_training_not_monotone),
    (PAGE, "both seeds best of all optimizers", generalization),
    (PAGE, "seed 1 behind all of them", generalization),
    (PAGE, "**ReLU fails** on both seeds", generalization),
    (PAGE, "their global parameter norm is above every baseline's from step 2 on", norms_and_early_lead),
    (PAGE, "their loss lead over the best baseline is largest early", norms_and_early_lead),
    (PAGE, "**The committed `l2l_train`** took 51 min for the appendix recipe", meta_training_minutes),
]

#: Comparative-looking sentences of the page's scopes that claim nothing the committed files could contradict.
NOT_CLAIMS = {
    "paired wins against tuned NAG and Adam, per recipe and budget": "a generated table's caption",
    "wins = paired runs out of 20 in which that LSTM ends lower": "a generated table's caption: a definition",
    "a per-seed result moves with rounding changes": "a past rewrite's measurement, not a committed file",
    "reruns only `l2l` (the weights are committed)": "which stage a command reruns, not a result",
    "first steps are therefore far smaller here than there": "follows from the two initializations (a derivation)",
    "It is 2.3× faster than a reference implementation": "bench/l2l_speed.py, a timing, not a committed file",
    "never reruns it by surprise": "what freezing a stage does, not a result",
    "the meta-step reaches about a quarter of the dense arithmetic rate": "bench/l2l_meta_step_bound.py, not committed",
}

#: The hand-written prose around the generated blocks.
SCOPES = {PAGE: lambda text: paragraphs(text, "Results", "Verdicts", "Time", "Limits")}
