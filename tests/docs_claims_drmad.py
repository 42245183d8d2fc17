"""The checks of ``docs/drmad.md``'s comparative sentences against ``plots/drmad/`` (the ``drmad`` stage).

Registered by ``tests/test_docs_claims.py`` as :mod:`docs_claims_hpo` is; a check takes the committed files
(``test_docs_claims.Committed``) and returns what in them contradicts its sentence, [] if nothing. The page's
memory-and-time table is a benchmark (``bench/drmad_memory.py``, d = 10⁴), not a committed file: the sentences
that rest on it are listed in :data:`NOT_CLAIMS` with that reason.
"""

from __future__ import annotations

import pandas as pd
from docs_claims_hpo import paragraphs
from docs_claims_hpo_scale import Check, _unless

PAGE = "docs/drmad.md"
DRMAD = "plots/drmad"


def _report(data) -> dict:
    return data.json(f"{DRMAD}/report.json")


def _ks(data) -> dict[int, dict]:
    return {int(k): v for k, v in _report(data)["K"].items()}


def _outer(data) -> dict[str, pd.DataFrame]:
    """Each method's outer run (``outer_<method>.csv``), by method name: exact and one per K."""
    names = ["exact", *(f"K{k}" for k in _report(data)["pieces"])]
    return {n: data.csv(f"{DRMAD}/outer_{n}.csv") for n in names}


def _gap(data) -> dict[str, float]:
    """Over every step and method, the largest |Δh| and |Δw_T| from exact reverse mode's outer run."""
    runs = _outer(data)
    ex = runs.pop("exact")
    return {c: max(float((r[c] - ex[c]).abs().max()) for r in runs.values()) for c in ("h", "w")}


def outer_paths_within_the_gap(data) -> list[str]:
    """The page's bounds hold for all eight outer runs, and are ``report.json``'s ``outer_gap_to_exact``."""
    gap, said = _gap(data), _report(data)["outer_gap_to_exact"]
    out = _unless(len(_outer(data)) == 8, f"{len(_outer(data))} methods")
    out += _unless(gap["h"] < 5.2e-3 and gap["w"] < 2.2e-2, f"gaps {gap}")
    return out + _unless(abs(gap["h"] - said["h"]) < 1e-12 and abs(gap["w"] - said["w_T"]) < 1e-12, f"report {said}")


def final_learning_rates(data) -> list[str]:
    """DrMAD 0.2 -> 0.038, exact 0.184, K = 2 and 4 above it (0.208, 0.231)."""
    ks, ex = _ks(data), _report(data)["exact"]["final_lr"]
    start = float(data.csv(f"{DRMAD}/outer_K1.csv").lr.iloc[0])
    got = [start, ks[1]["final_lr"], ex, ks[2]["final_lr"], ks[4]["final_lr"]]
    shown = ["0.2", "0.038", "0.184", "0.208", "0.231"]
    out = _unless([f"{v:.{len(s) - 2}f}" for v, s in zip(got, shown)] == shown, f"learning rates {got}")
    return out + _unless(ks[2]["final_lr"] > ex and ks[4]["final_lr"] > ex, "K = 2 or 4 ends below exact")


def contours_nearly_vertical(data) -> list[str]:
    """On the grid, L_val(w_T) varies over h (at a fixed α) at least 10 times as much as over α (at a fixed h)."""
    grid = data.csv(f"{DRMAD}/val_surface.csv").pivot(index="h", columns="lr", values="L_val")
    over_h = float((grid.max(axis=0) - grid.min(axis=0)).median())
    over_lr = float((grid.max(axis=1) - grid.min(axis=1)).median())
    return _unless(over_h >= 10 * over_lr, f"median range over h {over_h:.3g}, over α {over_lr:.3g}")


def three_vectors_per_step(data) -> list[str]:
    mem = data.csv(f"{DRMAD}/memory.csv").set_index("method")
    per_step = mem.measured_vectors["exact"] / _report(data)["T"]
    return _unless(2.9 <= per_step <= 3.1, f"exact reverse mode keeps {per_step:.2f} vectors per step")


def h_gradient_exact(data) -> list[str]:
    errors = {k: v["rel_err"]["h"] for k, v in _ks(data).items()}
    return _unless(max(errors.values()) < 1e-15 and f"{errors[1]:.0e}" == "3e-16", f"h-gradient errors {errors}")


def nearly_coincide(data) -> list[str]:
    """The gaps, h from 1.5 to |h| < 0.01 for every K, and the ranges of final α and final L_val."""
    ks = _ks(data)
    out = outer_paths_within_the_gap(data)
    out += _unless(all(abs(v["final_h"]) < 0.01 for v in ks.values()), "an outer run does not end near h = 0")
    lrs, lvals = [v["final_lr"] for v in ks.values()], [v["final_L_val"] for v in ks.values()]
    lr_range = (f"{min(lrs):.3f}", f"{max(lrs):.3f}")
    lval_range = (f"{min(lvals):.1e}", f"{max(lvals):.1e}")
    out += _unless(lr_range == ("0.038", "0.231"), f"final learning rates {lr_range}")
    return out + _unless(lval_range == ("1.2e-06", "1.4e-04"), f"final L_val {lval_range}")


def path_gradients_wrong(data) -> list[str]:
    """DrMAD's log α and γ gradients against exact, and the sign of K = 2 and 4's log α gradient."""
    err = data.csv(f"{DRMAD}/error_quadratic.csv").set_index("K")
    g = err.loc[1]
    shown = [f"{g.grad_log_lr:.2f}", f"{g.exact_log_lr:.2f}", f"{g.rel_err_log_lr:.2f}", f"{g.grad_momentum:.3f}"]
    out = _unless(shown == ["0.19", "0.32", "0.42", "-0.018"] and f"{g.exact_momentum:.2f}" == "-4.28", f"{shown}")
    signs = [f"{err.grad_log_lr[k]:.3f}" for k in (2, 4)]
    return out + _unless(signs == ["-0.025", "-0.048"] and g.exact_log_lr > 0, f"K = 2, 4 log α gradients {signs}")


def error_falls_once_resolved(data) -> list[str]:
    """The log α error stays above 0.4 up to K = 8 and is 16 % at K = 16, 4 % at K = 32."""
    err = data.csv(f"{DRMAD}/error_quadratic.csv").set_index("K").rel_err_log_lr
    out = _unless(bool((err.loc[:8] > 0.4).all()), f"log α errors up to K = 8 {err.loc[:8].tolist()}")
    return out + _unless([f"{100 * err[k]:.0f}" for k in (16, 32)] == ["16", "4"], f"K = 16, 32: {err[16]}, {err[32]}")


def large_k_follow_exact(data) -> list[str]:
    """K >= 16 stay within 0.005 of exact reverse mode's learning rate at every outer step."""
    runs = _outer(data)
    ex = runs["exact"].lr
    gaps = {n: float((r.lr - ex).abs().max()) for n, r in runs.items() if n != "exact" and int(n[1:]) >= 16}
    return _unless(bool(gaps) and max(gaps.values()) < 0.005, f"largest |Δα| from exact {gaps}")


def quartic_h_error(data) -> list[str]:
    """DrMAD's quartic h error 1.2 %, K = 32 0.1 %; up to K = 4 it stays 1.2–2.1 %, from K = 8 0.1–0.2 %."""
    err = data.csv(f"{DRMAD}/error_quartic.csv").set_index("K").rel_err_h * 100
    T = _report(data)["T"]
    early, late = err.loc[:4], err.loc[8:].drop(T, errors="ignore")
    out = _unless(f"{err[1]:.1f}" == "1.2" and f"{err[32]:.1f}" == "0.1", f"K = 1, 32: {err[1]:.2f} %, {err[32]:.2f} %")
    out += _unless(f"{early.min():.1f}" == "1.2" and f"{early.max():.1f}" == "2.1", f"up to K = 4: {early.tolist()}")
    return out + _unless(f"{late.min():.1f}" == "0.1" and f"{late.max():.1f}" == "0.2", f"from K = 8: {late.tolist()}")


def little_loss_only_for_h(data) -> list[str]:
    rel = _ks(data)[1]["rel_err"]
    ok = f"{100 * rel['log_lr']:.0f}" == "42" and f"{100 * rel['momentum']:.0f}" == "100" and rel["h"] < 1e-12
    return _unless(ok, f"DrMAD's errors {rel}")


def measured_vectors_of_the_toy(data) -> list[str]:
    """Each K-piece reverse pass keeps K + 9.1 vectors (DrMAD 10.1); exact reverse mode 305 = 3T + 5."""
    mem = data.csv(f"{DRMAD}/memory.csv")
    pieces = mem[mem.method != "exact"]
    extra = (pieces.measured_vectors - pieces.K).round(1).unique().tolist()
    exact = float(mem[mem.method == "exact"].measured_vectors.iloc[0])
    out = _unless(extra == [9.1], f"K-piece vectors minus K {extra}")
    return out + _unless(round(exact) == 305 == 3 * _report(data)["T"] + 5, f"exact keeps {exact:.1f}")


CLAIMS: list[tuple[str, str, Check]] = [
    (PAGE, "The (h, w_T) paths of the eight methods lie within |Δh| < 5.2e-3", outer_paths_within_the_gap),
    (PAGE, "DrMAD drives α from 0.2 to 0.038; exact reverse mode ends at 0.184", final_learning_rates),
    (PAGE, "K = 2 and 4 end above it (0.208, 0.231)", final_learning_rates),
    (PAGE, "w_T depends on h far more than on α", contours_nearly_vertical),
    (PAGE, "Exact reverse mode through `lax.scan` keeps **3 vectors per step**", three_vectors_per_step),
    (PAGE, "**The h-gradient is exact for every K on this quadratic toy**", h_gradient_exact),
    (PAGE, "With α tuned the outer (h, w_T) paths therefore nearly coincide", nearly_coincide),
    (PAGE, "DrMAD's log α gradient is 0.19 instead of 0.32", path_gradients_wrong),
    (PAGE, "The error falls only once the pieces resolve the oscillation", error_falls_once_resolved),
    (PAGE, "DrMAD drives α from 0.2 to **0.038** where exact reverse mode keeps it at 0.184", final_learning_rates),
    (PAGE, "K ≥ 16 follow the exact path", large_k_follow_exact),
    (PAGE, "DrMAD's h-gradient is 1.2 % off (K = 32: 0.1 %)", quartic_h_error),
    (PAGE, "on the oscillating default run it does not", quartic_h_error),
    (PAGE, 'Its "little loss" holds here only for h', little_loss_only_for_h),
    (PAGE, "the K-piece reverse pass holds K + 9.1 vectors", measured_vectors_of_the_toy),
    (PAGE, "DrMAD 10.1), exact reverse mode 305 ≈ 3T + 5", measured_vectors_of_the_toy),
]

NOT_CLAIMS = {
    "The reverse pass reads the trajectory only through": "the reason for the verdict (a derivation), not a result",
    "The inner loss is quadratic, so the Hessian reversed": "the reason for the verdict (a derivation), not a result",
    "With `tune_lr=false` they coincide exactly": "a run with other params.yaml values (tests/test_bilevel_drmad.py)",
    "DrMAD uses 3,326× less memory than": "bench/drmad_memory.py at d = 10⁴ (the table above), not a committed file",
    "It is only 3.4× faster": "a timing of bench/drmad_memory.py, not a committed file",
    "The reverse pass therefore stops where its adjoint has grown 100-fold": "the guard's rule, not a result",
    "(then every K gives the same outer path)": "a run with other params.yaml values (tests/test_bilevel_drmad.py)",
}

SCOPES = {PAGE: lambda text: paragraphs(text, "Results", "Verdicts", "Limits")}
