"""Paired statistics of the strategies' per-repeat results (lower is better).

Repeat ``r`` of every strategy starts from comparable random streams (the same
sampler seed derivation, the same seed draws of the table), so strategies are
compared *paired by repeat*: win / tie / loss counts, the Wilcoxon signed-rank
test of the paired differences (Wilcoxon 1945; ties dropped, as scipy's
``zero_method="wilcox"``), Holm's step-down adjustment over a family of tests
(Holm 1979), and a percentile bootstrap interval of a median (Efron 1979).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Two regrets closer than this are equal: a regret is a difference of error rates (steps of 1 / n_val), so
#: anything smaller is float rounding, never a different network.
REGRET_TOL = 1e-12
#: The level a Holm-adjusted p must reach for a paired verdict.
ALPHA = 0.05


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values (``None`` entries are left out and kept).

    The k-th smallest p is multiplied by ``m - k + 1`` (k = 1..m), made monotone
    (running maximum) and capped at 1; reject at level a when the adjusted p <= a.
    """
    keys = [k for k, p in pvalues.items() if p is not None and np.isfinite(p)]
    order = sorted(keys, key=lambda k: pvalues[k])
    m, out, running = len(order), dict(pvalues), 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(pvalues[k])))
        out[k] = running
    return out


def win_tie_loss(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> tuple[int, int, int]:
    """Paired by repeat: how often ``a`` has the lower (better) value, the same, a higher one."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return int((d < -tol).sum()), int((np.abs(d) <= tol).sum()), int((d > tol).sum())


def paired_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p of the paired differences ``a - b`` (ties dropped; all tied: 1)."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.abs(d) > 1e-12]
    if len(d) == 0:
        return 1.0
    return float(wilcoxon(d, alternative=alternative).pvalue)


def pairwise_table(final: pd.DataFrame) -> pd.DataFrame:
    """Every ordered pair (a, b) of the columns of ``final`` (repeats x strategies, lower is better).

    Columns: wins / ties / losses of a against b by repeat, median of the paired
    differences a - b, the two-sided Wilcoxon p and its Holm adjustment over the
    unordered pairs (one family).
    """
    names = list(final.columns)
    raw = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            raw[(a, b)] = paired_p(final[a].to_numpy(), final[b].to_numpy())
    adj = holm(raw)
    rows = []
    for a in names:
        for b in names:
            if a == b:
                continue
            w, t, l_ = win_tie_loss(final[a].to_numpy(), final[b].to_numpy())
            key = (a, b) if (a, b) in raw else (b, a)
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "wins": w,
                    "ties": t,
                    "losses": l_,
                    "median_diff": float(np.median(final[a].to_numpy() - final[b].to_numpy())),
                    "p_two_sided": raw[key],
                    "p_holm": adj[key],
                }
            )
    return pd.DataFrame(rows)


def vs_baseline(final: pd.DataFrame, baseline: str) -> dict:
    """Per strategy: (one-sided paired Wilcoxon p of 'lower than ``baseline``', its Holm adjustment).

    The strategies other than the baseline are one family; the baseline's own entry is ``(None, None)``.
    """
    raw = {
        s: (paired_p(final[s].to_numpy(), final[baseline].to_numpy(), "less") if s != baseline else None)
        for s in final.columns
    }
    return {s: (raw[s], p) for s, p in holm(raw).items()}


def bootstrap_median_ci(
    values: np.ndarray, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``values``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan
    idx = rng.integers(len(v), size=(n_boot, len(v)))
    med = np.median(v[idx], axis=1)
    lo, hi = np.quantile(med, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def median_ci(values, n_boot: int, rng: np.random.Generator) -> dict:
    """``{"median", "ci_low", "ci_high"}`` of ``values`` (:func:`bootstrap_median_ci`)."""
    lo, hi = bootstrap_median_ci(np.asarray(values, float), n_boot, rng)
    return {"median": float(np.median(values)), "ci_low": lo, "ci_high": hi}
