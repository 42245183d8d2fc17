"""Verdicts that survive the table's own noise: every paired test on every realization, stated only where all agree.

The paired tests of :mod:`~hyperlab.selection.analysis.stats` are over the
search repeats on *one* table; the table's training noise (which seed a
network's stored errors came from) is not in them, so a verdict can hold on
one table and flip on a retrained one. The ``compare`` stage therefore runs
every test on every realization of the table (disjoint seed pairs,
:meth:`~hyperlab.selection.table.table.Table.realization`) and:

- a verdict ("a has lower <regret> than b") is **robust** when its Holm-adjusted
  p is <= :data:`~hyperlab.selection.analysis.stats.ALPHA` with the same winner on
  every realization; only these are stated;
- it is **not robust** when it holds on some realizations but not all (or the
  winner changes); these are listed as such, never stated;
- pairs with no significant difference on any realization are only counted.

Two families per regret and realization: every unordered pair, two-sided
(Holm over the pairs), and every strategy against the baseline, one-sided
"lower than the baseline" (Holm over the strategies).
"""

from __future__ import annotations

import pandas as pd

from hyperlab.selection.analysis.stats import ALPHA, pairwise_table, vs_baseline, win_tie_loss

RULE = (
    f"a paired verdict (Wilcoxon signed-rank over the search repeats, Holm-adjusted p <= {ALPHA}) is stated only "
    "when it holds with the same winner on every table realization; otherwise it is listed as not robust"
)


def _pairwise_rows(final: pd.DataFrame, order: list[str]) -> list[dict]:
    """The unordered pairs (a before b in ``order``) of :func:`pairwise_table`, with the winner if significant."""
    pw = pairwise_table(final)
    pw = pw[[order.index(a) < order.index(b) for a, b in zip(pw["a"], pw["b"])]]
    rows = []
    for r in pw.itertuples(index=False):
        winner = "" if r.p_holm > ALPHA or r.wins == r.losses else (r.a if r.wins > r.losses else r.b)
        rows.append(
            {"test": "pairwise", "a": r.a, "b": r.b, "wins": r.wins, "ties": r.ties, "losses": r.losses}
            | {"p_holm": r.p_holm, "winner": winner}
        )
    return rows


def _baseline_rows(final: pd.DataFrame, baseline: str) -> list[dict]:
    """Every strategy against ``baseline``, one-sided: the strategy wins when its Holm p <= ALPHA."""
    vs = vs_baseline(final, baseline)
    rows = []
    for s in final.columns:
        if s == baseline:
            continue
        w, t, l_ = win_tie_loss(final[s].to_numpy(), final[baseline].to_numpy())
        p = float(vs[s][1])
        rows.append(
            {"test": "vs_baseline", "a": s, "b": baseline, "wins": w, "ties": t, "losses": l_}
            | {"p_holm": p, "winner": s if p <= ALPHA else ""}
        )
    return rows


def paired_verdicts(finals: list[dict[str, pd.DataFrame]], baseline: str) -> pd.DataFrame:
    """One row per (realization, regret, test, a, b): wins / ties / losses of a vs b, Holm p, winner ('' = none).

    ``finals[r][regret]``: realization r's repeats x strategies final values of that regret.
    """
    rows = []
    for r, by_regret in enumerate(finals):
        for regret, final in by_regret.items():
            order = list(final.columns)
            for row in _pairwise_rows(final, order) + _baseline_rows(final, baseline):
                rows.append({"realization": r, "regret": regret, **row})
    return pd.DataFrame(rows)


def _sentence(key: tuple, g: pd.DataFrame) -> str:
    regret, test, a, b = key
    winner = next((w for w in g["winner"] if w), "")
    loser = b if winner == a else a
    ps = ", ".join(f"{p:.3g}" for p in g["p_holm"])
    wtl = ", ".join(
        f"{w}/{t}/{l_}" if winner == a else f"{l_}/{t}/{w}" for w, t, l_ in zip(g["wins"], g["ties"], g["losses"])
    )
    kind = "one-sided vs the baseline" if test == "vs_baseline" else "two-sided"
    return f"{regret} regret: {winner} lower than {loser} ({kind}; Holm p per realization {ps}; wins/ties/losses {wtl})"


def _split_sentence(key: tuple, g: pd.DataFrame) -> str:
    regret, test, a, b = key
    kind = "one-sided vs the baseline" if test == "vs_baseline" else "two-sided"
    per = "; ".join(f"realization {r}: {w or 'no difference'} (Holm p {p:.3g})" for r, w, p in zip(
        g["realization"], g["winner"], g["p_holm"]))  # fmt: skip
    return f"{regret} regret, {a} vs {b} ({kind}): lower per realization -- {per}"


def robust_verdicts(table: pd.DataFrame, realizations: int) -> tuple[pd.DataFrame, dict]:
    """``table`` (:func:`paired_verdicts`) with column ``robust``, and the report's summary of it.

    Summary: ``rule``, ``robust`` and ``not_robust`` (one sentence each, winner first), ``no_difference``
    (how many tests had no winner on any realization).
    """
    robust, not_robust, none = [], [], 0
    flags = pd.Series(False, index=table.index)
    for key, g in table.groupby(["regret", "test", "a", "b"], sort=False):
        winners = set(g["winner"])
        if winners == {""}:
            none += 1
        elif len(winners) == 1 and len(g) == realizations:
            robust.append(_sentence(key, g))
            flags[g.index] = True
        else:
            not_robust.append(_split_sentence(key, g))
    summary = {"rule": RULE, "robust": robust, "not_robust": not_robust, "no_difference": none}
    return table.assign(robust=flags), summary
